"""Webhook payloads, signatures and the URL policy, without a network."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from reelstep.errors import InvalidInput, SignatureInvalid, SourceRefused
from reelstep.models import JobError, JobRecord, Source, Webhook
from reelstep.ports import JobEvent
from reelstep.settings import Settings
from reelstep.webhooks import (
    WebhookEvent,
    build_event,
    event_type,
    signature_header,
    validate_webhook_url,
    verify_signature,
)

SECRET = "whsec-test-0123456789"
BODY = b'{"id":"evt-1","type":"job.succeeded"}'


def test_a_fresh_signature_verifies_and_returns_its_timestamp() -> None:
    now = int(time.time())
    header = signature_header(SECRET, BODY, now)
    assert header.startswith(f"t={now},v1=")
    assert verify_signature(SECRET, header, BODY) == now


def test_a_tampered_body_is_rejected() -> None:
    header = signature_header(SECRET, BODY, int(time.time()))
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_signature(SECRET, header, BODY.replace(b"succeeded", b"failed"))


def test_a_tampered_timestamp_is_rejected() -> None:
    now = int(time.time())
    digest = signature_header(SECRET, BODY, now).split("v1=", 1)[1]
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_signature(SECRET, f"t={now + 1},v1={digest}", BODY)


def test_another_secret_is_rejected() -> None:
    header = signature_header("another-secret-xyz", BODY, int(time.time()))
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_signature(SECRET, header, BODY)


def test_an_old_signature_is_rejected_as_a_replay() -> None:
    # Given a correct signature made ten minutes before now
    then = 1_760_000_000
    header = signature_header(SECRET, BODY, then)
    # Then the default five-minute tolerance refuses it, and a wider one accepts it
    with pytest.raises(SignatureInvalid, match="600 s old, over the 300 s tolerance"):
        verify_signature(SECRET, header, BODY, now=then + 600)
    assert verify_signature(SECRET, header, BODY, tolerance=900, now=then + 600) == then
    # And one from the future beyond the tolerance is refused as well
    with pytest.raises(SignatureInvalid, match="over the 300 s tolerance"):
        verify_signature(SECRET, header, BODY, now=then - 301)


def test_any_matching_v1_is_accepted_during_a_secret_rotation() -> None:
    now = int(time.time())
    old = signature_header("old-secret-0000", BODY, now).split("v1=", 1)[1]
    header = f"t={now},v1={old},v1=" + signature_header(SECRET, BODY, now).split("v1=", 1)[1]
    assert verify_signature(SECRET, header, BODY) == now


@pytest.mark.parametrize("header", ["", "v1=abc", "t=123", "t=soon,v1=abc", "garbage"])
def test_a_malformed_header_is_rejected(header: str) -> None:
    with pytest.raises(SignatureInvalid):
        verify_signature(SECRET, header, BODY)


@pytest.mark.parametrize(
    ("detail_type", "expected"),
    [
        ("Job Succeeded", "job.succeeded"),
        ("Job Failed", "job.failed"),
        ("Job Cancelled", "job.cancelled"),
        ("Job Started", "job.started"),
        ("Job Queued", "job.queued"),
    ],
)
def test_detail_types_map_to_webhook_types(detail_type: str, expected: str) -> None:
    assert event_type(detail_type) == expected


def test_a_detail_type_that_is_not_a_job_event_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not a job event"):
        event_type("Object Created")


def test_the_payload_carries_the_job_and_its_links() -> None:
    # Given a failed job
    record = JobRecord(
        job_id="job-1",
        tenant="acme",
        status="failed",
        source=Source(kind="url", location="https://example.com/a.mp4"),
        progress=0.4,
        error=JobError(step="probe", type="UnsupportedMedia", message="not a video"),
        webhook=Webhook(url="https://hooks.example.com/x", secret=SECRET),
    )
    event = JobEvent(detail_type="Job Failed", job_id="job-1", tenant="acme", status="failed")
    created = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    # When the webhook payload is built
    payload = build_event(event, record, event_id="evt-9", created_at=created, public_url="https://api.x/")
    document = json.loads(payload.model_dump_json())
    # Then it names the event, the job, the error and where the result is; never the secret
    assert document["id"] == "evt-9"
    assert document["type"] == "job.failed"
    assert document["created_at"] == "2025-01-02T03:04:05Z"
    data = document["data"]
    assert (data["job_id"], data["tenant"], data["status"], data["progress"]) == (
        "job-1",
        "acme",
        "failed",
        0.4,
    )
    assert data["error"] == {"step": "probe", "type": "UnsupportedMedia", "message": "not a video"}
    assert data["result_key"] == "jobs/job-1/result.json"
    assert data["links"] == {
        "job": "https://api.x/v1/jobs/job-1",
        "result": "https://api.x/v1/jobs/job-1/result",
    }
    assert SECRET not in payload.model_dump_json()
    assert WebhookEvent.model_validate(document) == payload


def test_a_running_job_has_no_result_link_yet() -> None:
    record = JobRecord(job_id="job-2", status="running", source=Source(kind="path", location="/a.mp4"))
    event = JobEvent(detail_type="Job Started", job_id="job-2", tenant="local", status="running")
    payload = build_event(event, record, event_id="e", created_at=datetime.now(UTC), public_url="http://h")
    assert payload.data.result_key is None
    assert payload.data.links.result is None


# ---------------------------------------------------------------------- URL policy (IP literals, no DNS)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "cloud metadata"),
        ("https://[::1]/hook", "loopback"),
        ("https://[::ffff:192.168.0.1]/hook", "private"),
        ("https://metadata.google.internal/", "cloud metadata"),
        ("ftp://93.184.216.34/hook", "https"),
        ("http://93.184.216.34/hook", "plain http"),
    ],
)
def test_unsafe_webhook_urls_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(SourceRefused, match=reason):
        validate_webhook_url(url, Settings())


def test_a_public_https_url_is_accepted() -> None:
    validate_webhook_url("https://93.184.216.34/hooks/reelstep", Settings())


def test_a_trusted_host_may_be_private_and_plain_http() -> None:
    settings = Settings(trusted_hosts=["127.0.0.1"])
    validate_webhook_url("http://127.0.0.1:8080/hook", settings)
    with pytest.raises(SourceRefused, match="loopback"):
        validate_webhook_url("https://[::1]:8080/hook", settings)


@pytest.mark.parametrize("url", ["https://", "not a url at all", "https://" + "a" * 2100 + ".com/"])
def test_malformed_webhook_urls_are_invalid_input(url: str) -> None:
    with pytest.raises((InvalidInput, SourceRefused)):
        validate_webhook_url(url, Settings())
