"""A job run through the local executor with a webhook set: the receiver hears of its end once, signed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from media_factory import make_cut_video
from reelstep.adapters.local_events import LocalEventPublisher
from reelstep.adapters.local_orchestrator import LocalOrchestrator
from reelstep.backend import get_backend
from reelstep.models import AnalyzeOptions, Source, StepName, Webhook
from reelstep.pipeline import new_job_record
from reelstep.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, verify_signature
from webhook_receiver import WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec-workflow-secret"


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_cut_video(
        tmp_path_factory.mktemp("webhook-workflow") / "clip.mp4",
        segments=[("testsrc2", 1.0), ("smptebars", 1.0)],
        size=(160, 120),
        audio="sine",
    )


def test_a_finished_job_posts_exactly_one_signed_job_succeeded(
    reelstep_home: Path, monkeypatch: pytest.MonkeyPatch, video: Path
) -> None:
    # Given the local backend, trusting the loopback receiver, and a job with a webhook
    monkeypatch.setenv("REELSTEP_TRUSTED_HOSTS", '["127.0.0.1"]')
    backend = get_backend()
    assert isinstance(backend.events, LocalEventPublisher)
    assert backend.events.delivers_webhooks, "local_backend must give LocalEventPublisher jobs= and settings="
    with WebhookReceiver() as receiver:
        job_id = f"job-{time.monotonic_ns()}"
        backend.jobs.create(
            new_job_record(
                job_id,
                tenant="acme",
                source=Source(kind="path", location=str(video)),
                options=AnalyzeOptions(steps=[StepName.SCENES]),
                webhook=Webhook(url=f"{receiver.url}/hooks/reelstep", secret=SECRET),
            )
        )
        # When it runs through the real state machine on the local executor
        orchestrator = LocalOrchestrator(ROOT)
        orchestrator.wait(orchestrator.start(job_id, {"job_id": job_id}), timeout=240)
        assert backend.events.drain(10) == 0
        requests = list(receiver.received)
    # Then exactly one job.succeeded arrived, signed, naming the job and its result
    assert backend.jobs.get(job_id).status == "succeeded"
    succeeded = [r for r in requests if json.loads(r.body)["type"] == "job.succeeded"]
    assert len(succeeded) == 1
    (request,) = succeeded
    verify_signature(SECRET, request.headers[SIGNATURE_HEADER], request.body)
    payload = json.loads(request.body)
    assert payload["id"] == request.headers[EVENT_ID_HEADER]
    assert payload["data"]["job_id"] == job_id
    assert payload["data"]["tenant"] == "acme"
    assert payload["data"]["progress"] == 1.0
    assert payload["data"]["result_key"] == f"jobs/{job_id}/result.json"
    # And the job records the delivery without its status changing
    record = backend.jobs.get(job_id)
    assert record.status == "succeeded"
    assert [(d.type, d.status) for d in record.webhook_deliveries if d.type == "job.succeeded"] == [
        ("job.succeeded", "delivered")
    ]
