"""Intake on the local backend: S3 events and dropped files start exactly one job each."""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest

from media_factory import make_cut_video
from reelstep.adapters.lambda_process import LocalLambdaContext
from reelstep.adapters.local_blob import LocalBlobStore
from reelstep.adapters.local_events import LocalEventPublisher
from reelstep.adapters.local_orchestrator import LocalOrchestrator
from reelstep.backend import Backend
from reelstep.errors import TransientStorageError
from reelstep.intake import (
    IncomingWatcher,
    IntakeFailed,
    S3EventNotification,
    intake_s3_event,
    local_object_created,
    start_incoming_watcher,
)
from reelstep.models import StepName
from reelstep.pipeline import parse_event
from reelstep.ports import ExecutionInfo

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
PUT_KEY = "incoming/acme/Summer Trip + friends (2025).mp4"
PUBLIC_HOOK = "https://93.184.216.34/hooks/reelstep"


class RecordingOrchestrator:
    """An in-memory orchestrator: intake's concern is which executions start, not how they run."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def start(self, job_id: str, execution_input: dict[str, Any]) -> str:
        self.started.append(job_id)
        return f"local:{job_id}:{len(self.started)}"

    def describe(self, execution_id: str) -> ExecutionInfo:
        return ExecutionInfo(execution_id=execution_id, status="RUNNING")

    def stop(self, execution_id: str, *, cause: str) -> None:
        return None


@pytest.fixture
def orchestrator() -> RecordingOrchestrator:
    return RecordingOrchestrator()


@pytest.fixture
def intake_backend(backend: Backend, orchestrator: RecordingOrchestrator) -> Backend:
    """The local backend with a recording orchestrator, and events logged but no webhook sent: these
    tests' webhook URLs are public addresses that must never be contacted from a test."""
    return dataclasses.replace(
        backend,
        events=LocalEventPublisher(backend.settings.home / "events.jsonl"),
        build_orchestrator=lambda settings: orchestrator,
    )


def event(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return document


def notification(document: dict[str, Any]) -> S3EventNotification:
    return parse_event(S3EventNotification, document)


def with_object(document: dict[str, Any], **found: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    changed["Records"][0]["s3"]["object"].update(found)
    return changed


def published(backend: Backend) -> list[dict[str, Any]]:
    path = backend.settings.home / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_same_s3_event_delivered_twice_makes_one_job(
    intake_backend: Backend, orchestrator: RecordingOrchestrator
) -> None:
    # Given an S3 event for a file dropped under incoming/acme/
    put = event("s3_put_incoming.json")
    # When S3 delivers it twice
    first = intake_s3_event(notification(put), intake_backend)
    second = intake_s3_event(notification(put), intake_backend)
    # Then one job exists, for that tenant and object, started once; the second delivery is a duplicate
    (created,) = first.records
    (again,) = second.records
    assert (created.outcome, created.status) == ("created", "running")
    assert (again.outcome, again.job_id) == ("duplicate", created.job_id)
    jobs = intake_backend.jobs.list_jobs("acme").jobs
    assert [job.job_id for job in jobs] == [created.job_id]
    (job,) = jobs
    assert (job.source.kind, job.source.location) == ("blob", PUT_KEY)
    assert job.webhook is None
    assert orchestrator.started == [created.job_id]


def test_two_events_for_the_same_object_version_make_one_job(intake_backend: Backend) -> None:
    put = event("s3_put_incoming.json")
    intake_s3_event(notification(put), intake_backend)
    late = intake_s3_event(notification(with_object(put, sequencer="0055AED6DCD90281F0")), intake_backend)
    assert late.records[0].outcome == "duplicate"
    assert len(intake_backend.jobs.list_jobs("acme").jobs) == 1


def test_a_new_write_of_the_same_key_makes_a_new_job(intake_backend: Backend) -> None:
    # Given an unversioned bucket: two uploads of one key differ by their sequencer
    upload = event("s3_multipart_incoming.json")
    intake_s3_event(notification(upload), intake_backend)
    reupload = intake_s3_event(
        notification(with_object(upload, sequencer="0062E99A88DC4074FF")), intake_backend
    )
    assert reupload.records[0].outcome == "created"
    assert len(intake_backend.jobs.list_jobs("acme").jobs) == 2


def test_sidecar_options_and_webhook_are_applied(intake_backend: Backend) -> None:
    # Given a sidecar beside the media file
    sidecar = {
        "options": {"steps": ["scenes", "keyframes"], "keyframes": {"mode": "scene", "max_frames": 4}},
        "webhook": {"url": PUBLIC_HOOK, "secret": "sidecar-secret-1"},
    }
    intake_backend.blobs.put_bytes(PUT_KEY + ".json", json.dumps(sidecar).encode())
    # When the media's event arrives
    (outcome,) = intake_s3_event(notification(event("s3_put_incoming.json")), intake_backend).records
    # Then the job has the sidecar's options and webhook
    assert outcome.job_id is not None
    job = intake_backend.jobs.get(outcome.job_id)
    assert job.options.steps == [StepName.SCENES, StepName.KEYFRAMES]
    assert (job.options.keyframes.mode, job.options.keyframes.max_frames) == ("scene", 4)
    assert job.webhook is not None
    assert (job.webhook.url, job.webhook.secret) == (PUBLIC_HOOK, "sidecar-secret-1")


def test_a_bad_sidecar_makes_a_failed_job_naming_the_problem_and_keeps_its_webhook(
    intake_backend: Backend, orchestrator: RecordingOrchestrator
) -> None:
    # Given a sidecar with a valid webhook but an impossible option
    sidecar = {"options": {"keyframes": {"max_frames": 0}}, "webhook": {"url": PUBLIC_HOOK}}
    intake_backend.blobs.put_bytes(PUT_KEY + ".json", json.dumps(sidecar).encode())
    # When the media's event arrives
    (outcome,) = intake_s3_event(notification(event("s3_put_incoming.json")), intake_backend).records
    # Then a job is created already failed, saying what to fix, and nothing runs
    assert (outcome.outcome, outcome.status) == ("created", "failed")
    assert outcome.job_id is not None
    job = intake_backend.jobs.get(outcome.job_id)
    assert job.status == "failed"
    assert job.error is not None
    assert (job.error.step, job.error.type) == ("intake", "InvalidInput")
    assert f"sidecar {PUT_KEY}.json is invalid: options.keyframes.max_frames" in job.error.message
    assert {report.status for report in job.steps.values()} == {"skipped"}
    assert job.webhook is not None and job.webhook.url == PUBLIC_HOOK
    assert orchestrator.started == []
    # And listeners hear of the failure
    failed = [e for e in published(intake_backend) if e["detail_type"] == "Job Failed"]
    assert [e["job_id"] for e in failed] == [outcome.job_id]
    # And a second delivery of the event is still one job
    again = intake_s3_event(notification(event("s3_put_incoming.json")), intake_backend)
    assert again.records[0].outcome == "duplicate"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "is not JSON"),
        (b'["a list"]', "is invalid"),
        (b'{"webhook": {"url": "https://127.0.0.1/hook"}}', "127.0.0.1, a loopback address"),
        (b'{"priority": "high"}', "priority: Extra inputs are not permitted"),
    ],
)
def test_other_bad_sidecars_fail_the_job_with_the_reason(
    intake_backend: Backend, content: bytes, reason: str
) -> None:
    intake_backend.blobs.put_bytes(PUT_KEY + ".json", content)
    (outcome,) = intake_s3_event(notification(event("s3_put_incoming.json")), intake_backend).records
    assert outcome.job_id is not None
    job = intake_backend.jobs.get(outcome.job_id)
    assert job.status == "failed"
    assert job.error is not None and reason in job.error.message
    assert job.webhook is None


class FlakyBlobs:
    """The local blob store, except that one key's reads fail as a throttled S3 would."""

    def __init__(self, inner: LocalBlobStore, failing: str) -> None:
        self.inner = inner
        self.failing = failing

    def size(self, key: str) -> int:
        if key == self.failing:
            raise TransientStorageError(f"S3 throttled the read of {key}")
        return self.inner.size(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_one_failing_record_does_not_block_the_others_and_the_event_is_retried(
    intake_backend: Backend,
) -> None:
    # Given an event with two new files, the second of which cannot be read for now
    template = event("s3_multipart_incoming.json")
    second = copy.deepcopy(template["Records"][0])
    second["s3"]["object"].update(key="incoming/acme/week-2.mov", sequencer="0062E99A88DC407470")
    document = {"Records": [template["Records"][0], second]}
    assert isinstance(intake_backend.blobs, LocalBlobStore)
    flaky = dataclasses.replace(
        intake_backend, blobs=FlakyBlobs(intake_backend.blobs, "incoming/acme/week-2.mov.json")
    )
    # When the event is handled, the first file's job is made, and the failure is raised at the end
    with pytest.raises(
        IntakeFailed, match=r"1 of 2 S3 records failed .* incoming/acme/week-2\.mov: TransientStorage"
    ):
        intake_s3_event(notification(document), flaky)
    assert [job.source.location for job in intake_backend.jobs.list_jobs("acme").jobs] == [
        "incoming/acme/lectures/week-1.mov"
    ]
    # And Lambda's retry of the whole event makes the missing job and no second one of the first
    retried = intake_s3_event(notification(document), intake_backend)
    assert [record.outcome for record in retried.records] == ["duplicate", "created"]
    assert len(intake_backend.jobs.list_jobs("acme").jobs) == 2


def test_the_lambda_handles_every_record_and_skips_what_is_not_intake(intake_backend: Backend) -> None:
    from importlib import util

    spec = util.spec_from_file_location("intake_app", ROOT / "functions" / "intake" / "app.py")
    assert spec is not None and spec.loader is not None
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    context = LocalLambdaContext(function_name="IntakeFunction", invoked_function_arn="local", timeout=60)
    # Given a sidecar, an upload outside incoming/, a folder marker, a removal, a copy, and a malformed record
    document = event("s3_mixed_records.json")
    document["Records"].append({"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}}})
    # When the handler gets them
    report = module.handler(document, context, backend=intake_backend)
    # Then only the copy makes a job, and the rest are skipped with their reasons
    outcomes = [(r["key"], r["outcome"]) for r in report["records"]]
    assert outcomes == [
        ("incoming/acme/clip.mp4.json", "ignored"),
        ("uploads/acme/u-1/clip.mp4", "ignored"),
        ("incoming/acme/", "ignored"),
        ("incoming/acme/old.mp4", "ignored"),
        ("incoming/acme/copied.mkv", "created"),
        (None, "invalid"),
    ]
    assert "s3.object: Field required" in report["records"][-1]["reason"]
    # And an S3 test event is answered without a job
    assert module.handler(event("s3_test_event.json"), context, backend=intake_backend) == {"records": []}


# ----------------------------------------------------------------------------- local uploads and drops


def test_a_local_upload_with_an_awkward_name_makes_one_job(intake_backend: Backend) -> None:
    # Given a finished upload whose name S3 would URL-encode
    key = "incoming/acme/my clip+1 (final).mp4"
    intake_backend.blobs.put_bytes(key, b"not really a video")
    # When the upload route reports it, and the folder watcher then sees the same file
    created = local_object_created(intake_backend, key)
    watcher = IncomingWatcher(intake_backend)
    assert watcher.poll() == []
    (seen,) = watcher.poll()
    # Then one job reads exactly that key
    assert created.outcome == "created"
    assert (seen.outcome, seen.job_id) == ("duplicate", created.job_id)
    (job,) = intake_backend.jobs.list_jobs("acme").jobs
    assert job.source.location == key


def test_a_dropped_file_is_picked_up_once_and_only_when_complete(
    intake_backend: Backend, orchestrator: RecordingOrchestrator
) -> None:
    blobs = intake_backend.blobs
    assert isinstance(blobs, LocalBlobStore)
    folder = blobs.root / "incoming" / "acme"
    folder.mkdir(parents=True)
    watcher = IncomingWatcher(intake_backend)
    dropped = folder / "talk.mp4"
    # Given a copy in progress: an empty file, then a first part
    dropped.touch()
    assert watcher.poll() == []
    assert watcher.poll() == []
    with dropped.open("ab") as out:
        out.write(b"x" * 1000)
    assert watcher.poll() == []
    with dropped.open("ab") as out:
        out.write(b"y" * 1000)
    # When it has stopped growing for one poll, it is taken
    assert watcher.poll() == []
    (taken,) = watcher.poll()
    assert taken.outcome == "created"
    # Then later polls leave it alone, and sidecars and hidden files never start jobs
    (folder / "talk.mp4.json").write_text("{}")
    (folder / ".partial-upload").write_bytes(b"z" * 10)
    assert watcher.poll() == []
    assert watcher.poll() == []
    assert orchestrator.started == [taken.job_id]
    (job,) = intake_backend.jobs.list_jobs("acme").jobs
    assert job.source.location == "incoming/acme/talk.mp4"


def test_a_file_replaced_in_place_is_a_new_write(intake_backend: Backend) -> None:
    blobs = intake_backend.blobs
    assert isinstance(blobs, LocalBlobStore)
    watcher = IncomingWatcher(intake_backend)
    blobs.put_bytes("incoming/acme/a.mp4", b"first version")
    watcher.poll()
    (first,) = watcher.poll()
    blobs.put_bytes("incoming/acme/a.mp4", b"second, longer version")
    watcher.poll()
    (second,) = watcher.poll()
    assert (first.outcome, second.outcome) == ("created", "created")
    assert first.job_id != second.job_id


def test_a_dropped_video_runs_through_the_real_pipeline(backend: Backend, tmp_path: Path) -> None:
    # Given a real video dropped into the local incoming folder, with a sidecar choosing one step
    blobs = backend.blobs
    assert isinstance(blobs, LocalBlobStore)
    video = make_cut_video(
        tmp_path / "drop.mp4", segments=[("testsrc2", 1.0), ("smptebars", 1.0)], size=(160, 120), audio="sine"
    )
    blobs.put_bytes("incoming/acme/drop.mp4.json", b'{"options": {"steps": ["scenes"]}}')
    blobs.put_file("incoming/acme/drop.mp4", video)
    # When the watcher takes it
    watcher = IncomingWatcher(backend)
    watcher.poll()
    (taken,) = watcher.poll()
    assert taken.job_id is not None
    job = backend.jobs.get(taken.job_id)
    assert job.execution_id is not None
    orchestrator = backend.orchestrator
    assert isinstance(orchestrator, LocalOrchestrator)
    orchestrator.wait(job.execution_id, timeout=240)
    # Then the job copied the dropped file and ran with the sidecar's options
    done = backend.jobs.get(taken.job_id)
    assert done.status == "succeeded", done.error
    assert done.steps["scenes"].status == "succeeded"
    assert done.steps["keyframes"].status == "skipped"
    assert blobs.exists(f"jobs/{taken.job_id}/input/drop.mp4")


def test_the_serve_watcher_thread_takes_a_dropped_file_and_stops(intake_backend: Backend) -> None:
    # Given the watcher `reelstep serve` starts, polling fast
    fast = dataclasses.replace(
        intake_backend, settings=intake_backend.settings.model_copy(update={"incoming_poll_seconds": 0.05})
    )
    stop = start_incoming_watcher(fast)
    try:
        # When a file is dropped
        fast.blobs.put_bytes("incoming/acme/late.mp4", b"bytes")
        deadline = time.monotonic() + 10
        while not fast.jobs.list_jobs("acme").jobs and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
    # Then a job is made for it
    (job,) = fast.jobs.list_jobs("acme").jobs
    assert job.source.location == "incoming/acme/late.mp4"
