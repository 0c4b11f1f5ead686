"""Webhook delivery against a real HTTP server on a loopback port: signatures, retries, limits, policy."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reelstep.adapters.lambda_process import LocalLambdaContext
from reelstep.adapters.local_events import LocalEventPublisher
from reelstep.backend import Backend
from reelstep.errors import InvalidInput
from reelstep.models import Source, Webhook
from reelstep.pipeline import new_job_record
from reelstep.pipeline.notify import JobEventNotification, notify_job_event
from reelstep.ports import JobEvent
from reelstep.settings import Settings
from reelstep.steps import ingest
from reelstep.webhooks import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    USER_AGENT,
    HttpWebhookSender,
    WebhookDeliveryFailed,
    WebhookEvent,
    WebhookJobData,
    WebhookLinks,
    verify_signature,
)
from webhook_receiver import Answer, WebhookReceiver

SECRET = "whsec-integration-secret"
LOOPBACK = ["127.0.0.1"]


def sender(**overrides: Any) -> HttpWebhookSender:
    options: dict[str, Any] = {
        "connect_timeout": 2.0,
        "timeout": 2.0,
        "max_attempts": 4,
        "max_seconds": 10.0,
        "backoff": 0.01,
        "trusted_hosts": LOOPBACK,
    }
    options.update(overrides)
    return HttpWebhookSender(**options)


def an_event(event_id: str = "evt-1") -> WebhookEvent:
    return WebhookEvent(
        id=event_id,
        type="job.succeeded",
        created_at=datetime.now(UTC),
        data=WebhookJobData(
            job_id="job-1",
            tenant="acme",
            status="succeeded",
            progress=1.0,
            links=WebhookLinks(job="http://api/v1/jobs/job-1"),
        ),
    )


def test_a_delivery_is_signed_so_the_receiver_can_verify_it() -> None:
    with WebhookReceiver() as receiver:
        outcome = sender().send(receiver.url + "/hooks", SECRET, an_event())
        (request,) = receiver.wait_for(1)
    assert (outcome.delivered, outcome.attempts, outcome.status_code) == (True, 1, 200)
    assert request.path == "/hooks"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == USER_AGENT
    assert request.headers[EVENT_ID_HEADER] == "evt-1"
    verify_signature(SECRET, request.headers[SIGNATURE_HEADER], request.body)
    assert json.loads(request.body)["type"] == "job.succeeded"


def test_a_webhook_without_a_secret_is_sent_unsigned() -> None:
    with WebhookReceiver() as receiver:
        assert sender().send(receiver.url, None, an_event()).delivered
        (request,) = receiver.wait_for(1)
    assert SIGNATURE_HEADER not in request.headers


def test_server_errors_are_retried_until_one_succeeds_keeping_the_event_id() -> None:
    # Given a receiver that fails twice and then accepts
    with WebhookReceiver(Answer(500), Answer(503), Answer(200)) as receiver:
        # When the event is sent
        outcome = sender().send(receiver.url, SECRET, an_event())
        requests = receiver.wait_for(3)
    # Then it took three attempts, each signed, all with the same body and event id
    assert (outcome.delivered, outcome.attempts, outcome.status_code) == (True, 3, 200)
    assert len(requests) == 3
    assert {r.headers[EVENT_ID_HEADER] for r in requests} == {"evt-1"}
    assert len({r.body for r in requests}) == 1
    for request in requests:
        verify_signature(SECRET, request.headers[SIGNATURE_HEADER], request.body)


def test_retries_stop_at_the_attempt_bound() -> None:
    with WebhookReceiver(Answer(500)) as receiver:
        outcome = sender(max_attempts=3).send(receiver.url, SECRET, an_event())
        time.sleep(0.2)
        count = len(receiver.received)
    assert (outcome.delivered, outcome.attempts, outcome.retryable) == (False, 3, True)
    assert count == 3
    assert outcome.error is not None and "HTTP 500 (gave up after 3 attempts)" in outcome.error


def test_retries_back_off_exponentially() -> None:
    with WebhookReceiver(Answer(502)) as receiver:
        sender(max_attempts=4, backoff=0.1).send(receiver.url, SECRET, an_event())
        gaps = [b.at - a.at for a, b in zip(receiver.received, receiver.received[1:], strict=False)]
    # Jitter keeps each wait between half and all of 0.1, 0.2, 0.4 s.
    assert len(gaps) == 3
    assert 0.05 <= gaps[0] < 0.2
    assert 0.1 <= gaps[1] < 0.4
    assert 0.2 <= gaps[2] < 0.8


def test_too_many_requests_is_retried() -> None:
    with WebhookReceiver(Answer(429, headers={"Retry-After": "0"}), Answer(204)) as receiver:
        outcome = sender().send(receiver.url, SECRET, an_event())
    assert (outcome.delivered, outcome.attempts, outcome.status_code) == (True, 2, 204)


def test_a_client_error_is_not_retried() -> None:
    with WebhookReceiver(Answer(400)) as receiver:
        outcome = sender().send(receiver.url, SECRET, an_event())
        time.sleep(0.2)
        count = len(receiver.received)
    assert (outcome.delivered, outcome.attempts, outcome.status_code, outcome.retryable) == (
        False,
        1,
        400,
        False,
    )
    assert count == 1
    assert outcome.error == "the receiver answered HTTP 400"


def test_a_slow_receiver_is_cut_off_at_the_timeout() -> None:
    # Given a receiver that takes 3 s to answer, and a 0.3 s answer timeout
    with WebhookReceiver(Answer(200, delay=3.0)) as receiver:
        started = time.monotonic()
        outcome = sender(timeout=0.3, max_attempts=2).send(receiver.url, SECRET, an_event())
        elapsed = time.monotonic() - started
    # Then both attempts time out, and the delivery fails (worth a later retry) well before 3 s
    assert (outcome.delivered, outcome.attempts, outcome.retryable) == (False, 2, True)
    assert outcome.error is not None and "did not answer within 0.3 s" in outcome.error
    assert elapsed < 2.5


def test_the_whole_delivery_is_bounded_by_max_seconds() -> None:
    with WebhookReceiver(Answer(200, delay=3.0)) as receiver:
        started = time.monotonic()
        outcome = sender(timeout=5.0, max_attempts=10, max_seconds=0.5).send(receiver.url, SECRET, an_event())
        elapsed = time.monotonic() - started
    assert not outcome.delivered and outcome.retryable
    assert elapsed < 2.5


def test_a_redirect_is_not_followed() -> None:
    # Given a receiver that redirects to another server
    with (
        WebhookReceiver() as elsewhere,
        WebhookReceiver(Answer(307, headers={"Location": elsewhere.url})) as hook,
    ):
        outcome = sender().send(hook.url, SECRET, an_event())
        time.sleep(0.2)
        # Then the POST stops at the first server, which is not retried either
        assert (outcome.delivered, outcome.attempts, outcome.status_code) == (False, 1, 307)
        assert outcome.error is not None and "webhooks follow no redirects" in outcome.error
        assert len(hook.received) == 1
        assert elsewhere.received == []


def test_a_private_address_is_refused_unless_trusted() -> None:
    with WebhookReceiver() as receiver:
        # Given no trusted hosts, the loopback receiver is refused before any connection
        refused = sender(trusted_hosts=[]).send(receiver.url, SECRET, an_event())
        assert (refused.delivered, refused.attempts, refused.retryable) == (False, 1, False)
        assert refused.error is not None and "plain http is allowed only to trusted hosts" in refused.error
        assert receiver.received == []
        # And an https URL to a loopback name is refused for its address
        https = sender(trusted_hosts=[]).send(receiver.url.replace("http:", "https:"), SECRET, an_event())
        assert https.error is not None and "127.0.0.1, a loopback address" in https.error
        # When the host is trusted, the same receiver gets the event
        assert sender(trusted_hosts=["127.0.0.1"]).send(receiver.url, SECRET, an_event()).delivered
        assert len(receiver.wait_for(1)) == 1


def test_a_host_that_does_not_resolve_is_retried_then_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a resolver that knows no such host (the seam keeps the test off real DNS)
    def no_such_host(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(ingest, "resolve_host", no_such_host)
    outcome = sender(max_attempts=2).send("https://no-such-host.invalid/hook", SECRET, an_event())
    assert (outcome.delivered, outcome.attempts, outcome.retryable) == (False, 2, True)
    assert outcome.error is not None and "cannot resolve host no-such-host.invalid" in outcome.error


# ----------------------------------------------------------------------------- the notify task


def job_with_webhook(backend: Backend, url: str, job_id: str = "job-1") -> None:
    backend.jobs.create(
        new_job_record(
            job_id,
            tenant="acme",
            source=Source(kind="path", location="/in.mp4"),
            webhook=Webhook(url=url, secret=SECRET),
        )
    )


def notification(job_id: str = "job-1", event_id: str = "eb-evt-1", **detail: Any) -> dict[str, Any]:
    """An EventBridge event as the JobEventsBus rule hands it to NotifyFunction."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Job Succeeded",
        "source": "reelstep",
        "account": "123456789012",
        "time": "2025-05-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"job_id": job_id, "tenant": "acme", "status": "succeeded", "detail": {}, **detail},
    }


def test_notify_delivers_once_and_records_the_delivery(backend: Backend) -> None:
    with WebhookReceiver() as receiver:
        job_with_webhook(backend, receiver.url)
        event = JobEventNotification.model_validate(notification())
        # When the event arrives twice (EventBridge delivers at least once)
        first = notify_job_event(event, backend, sender=sender())
        second = notify_job_event(event, backend, sender=sender())
        time.sleep(0.2)
        requests = list(receiver.received)
    # Then the receiver got it once, under EventBridge's event id, and the job records it
    assert (first.outcome, second.outcome, second.reason) == ("delivered", "skipped", "already delivered")
    assert len(requests) == 1
    assert requests[0].headers[EVENT_ID_HEADER] == "eb-evt-1"
    assert json.loads(requests[0].body)["created_at"] == "2025-05-01T12:00:00Z"
    record = backend.jobs.get("job-1")
    (delivery,) = record.webhook_deliveries
    assert (delivery.event_id, delivery.type, delivery.status, delivery.attempts) == (
        "eb-evt-1",
        "job.succeeded",
        "delivered",
        1,
    )
    assert delivery.status_code == 200 and delivery.delivered_at is not None


def test_notify_raises_after_its_retries_so_lambda_retries_and_the_job_is_unchanged(backend: Backend) -> None:
    with WebhookReceiver(Answer(503)) as receiver:
        job_with_webhook(backend, receiver.url)
        event = JobEventNotification.model_validate(notification())
        with pytest.raises(WebhookDeliveryFailed, match="HTTP 503"):
            notify_job_event(event, backend, sender=sender(max_attempts=2))
        # A later Lambda retry adds its attempts to the same delivery's count
        with pytest.raises(WebhookDeliveryFailed):
            notify_job_event(event, backend, sender=sender(max_attempts=2))
    record = backend.jobs.get("job-1")
    assert record.status == "queued"
    (delivery,) = record.webhook_deliveries
    assert (delivery.status, delivery.attempts, delivery.status_code) == ("failed", 4, 503)
    assert delivery.last_error is not None and "HTTP 503" in delivery.last_error


def test_notify_does_not_raise_for_a_permanent_refusal(backend: Backend) -> None:
    with WebhookReceiver(Answer(410)) as receiver:
        job_with_webhook(backend, receiver.url)
        output = notify_job_event(
            JobEventNotification.model_validate(notification()), backend, sender=sender()
        )
    assert (output.outcome, output.retryable, output.status_code) == ("failed", False, 410)


def test_notify_skips_a_job_without_a_webhook_or_a_job_that_is_gone(backend: Backend) -> None:
    backend.jobs.create(new_job_record("job-2", source=Source(kind="path", location="/in.mp4")))
    skipped = notify_job_event(JobEventNotification.model_validate(notification("job-2")), backend)
    assert (skipped.outcome, skipped.reason) == ("skipped", "no webhook")
    gone = notify_job_event(JobEventNotification.model_validate(notification("job-404")), backend)
    assert (gone.outcome, gone.reason) == ("skipped", "no such job")


def test_the_notify_lambda_fails_fast_on_a_malformed_event_naming_the_field(backend: Backend) -> None:
    from importlib import util

    root = Path(__file__).resolve().parents[2]
    spec = util.spec_from_file_location("notify_app", root / "functions" / "notify" / "app.py")
    assert spec is not None and spec.loader is not None
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    context = LocalLambdaContext(function_name="NotifyFunction", invoked_function_arn="local", timeout=5)
    broken = notification()
    del broken["detail"]["job_id"]
    with pytest.raises(InvalidInput, match="malformed JobEvent: job_id: Field required"):
        module.handler(broken, context, backend=backend)
    without_type = notification()
    del without_type["detail-type"]
    with pytest.raises(InvalidInput, match="detail-type: Field required"):
        module.handler(without_type, context, backend=backend)


# ----------------------------------------------------------------------------- the local publisher


def test_the_local_publisher_delivers_in_the_background_with_the_logged_event_id(backend: Backend) -> None:
    # Given a local publisher wired to the job store, and a receiver slower than a pipeline step wants to wait
    settings = Settings(home=backend.settings.home, trusted_hosts=LOOPBACK)
    path = backend.settings.home / "events-test.jsonl"
    publisher = LocalEventPublisher(path, jobs=backend.jobs, settings=settings, sender=sender())
    with WebhookReceiver(Answer(200, delay=0.5)) as receiver:
        job_with_webhook(backend, receiver.url)
        # When an event is published
        started = time.monotonic()
        publisher.publish(
            JobEvent(detail_type="Job Succeeded", job_id="job-1", tenant="acme", status="succeeded")
        )
        returned_after = time.monotonic() - started
        # Then publish returns at once, and the delivery arrives in the background
        assert returned_after < 0.3
        assert publisher.drain(10) == 0
        (request,) = receiver.received
    logged = json.loads(path.read_text().splitlines()[-1])
    assert request.headers[EVENT_ID_HEADER] == logged["id"]
    verify_signature(SECRET, request.headers[SIGNATURE_HEADER], request.body)
    assert backend.jobs.get("job-1").webhook_deliveries[0].status == "delivered"


EXITING_PUBLISHER = """
import sys
from pathlib import Path

from reelstep.adapters.local_events import LocalEventPublisher
from reelstep.adapters.sqlite_jobs import SqliteJobStore
from reelstep.ports import JobEvent
from reelstep.settings import Settings

home = Path(sys.argv[1])
settings = Settings(home=home, trusted_hosts=["127.0.0.1"], webhook_drain_seconds=float(sys.argv[2]))
jobs = SqliteJobStore(home / "jobs.sqlite3")
publisher = LocalEventPublisher(home / "events.jsonl", jobs=jobs, settings=settings)
publisher.publish(JobEvent(detail_type="Job Succeeded", job_id="job-1", tenant="acme", status="succeeded"))
"""


@pytest.mark.parametrize(
    ("delay", "drain", "delivered"),
    [(0.5, 10.0, True), (5.0, 0.5, False)],
    ids=["waits-for-a-pending-delivery", "but-not-longer-than-the-drain-bound"],
)
def test_an_exiting_process_waits_a_bounded_time_for_pending_webhooks(
    backend: Backend, delay: float, drain: float, delivered: bool
) -> None:
    # Given a process that publishes an event for a slow receiver and exits at once
    with WebhookReceiver(Answer(200, delay=delay)) as receiver:
        job_with_webhook(backend, receiver.url)
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-c", EXITING_PUBLISHER, str(backend.settings.home), str(drain)],
            check=True,
            timeout=60,
            capture_output=True,
        )
        elapsed = time.monotonic() - started
    # Then the exit waited for the delivery, but never past the drain bound
    assert len(receiver.received) == 1
    assert (backend.jobs.get("job-1").webhook_deliveries != []) is delivered
    assert elapsed < delay + 5 if delivered else elapsed < drain + 3
