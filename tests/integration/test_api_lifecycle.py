"""The job lifecycle on the real SQLite stores, with an orchestrator that only records what it is asked.

The admission rules are about the slots and the records, not about what an execution does, so these
tests replace the executor with a recorder and drive the ends of jobs (finish, fail, cancel) by hand.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from reelstep.backend import Backend
from reelstep.errors import JobNotFound, TransientStorageError
from reelstep.lifecycle import JobStateConflict, cancel_job, job_finished, retry_job, submit_job
from reelstep.models import AnalyzeOptions, JobRecord, Source, StepName, StepReport
from reelstep.pipeline.common import (
    SCENES_JSON,
    FailureEvent,
    StateError,
    job_key,
    kept_from_earlier_run,
)
from reelstep.pipeline.finalize import run_record_failure
from reelstep.ports import ExecutionInfo

SOURCE = Source(kind="url", location="https://example.com/video.mp4")


class RecordingOrchestrator:
    """Starts nothing: remembers each start and stop; ``fail_starts`` makes starts raise."""

    def __init__(self) -> None:
        self.starts: list[dict[str, Any]] = []
        self.stops: list[str] = []
        self.fail_starts = False
        self._lock = threading.Lock()

    def start(self, job_id: str, execution_input: dict[str, Any]) -> str:
        if self.fail_starts:
            raise TransientStorageError("Step Functions is unavailable")
        with self._lock:
            self.starts.append(execution_input)
            return f"execution-{job_id}-{len(self.starts)}"

    def describe(self, execution_id: str) -> ExecutionInfo:
        return ExecutionInfo(execution_id=execution_id, status="RUNNING")

    def stop(self, execution_id: str, *, cause: str) -> None:
        if execution_id.startswith("gone"):
            raise JobNotFound(f"no execution {execution_id} in this process")
        self.stops.append(execution_id)

    def started(self) -> list[str]:
        return [str(entry["job_id"]) for entry in self.starts]


@pytest.fixture
def orchestrator() -> RecordingOrchestrator:
    return RecordingOrchestrator()


@pytest.fixture
def lifecycle(backend: Backend, orchestrator: RecordingOrchestrator) -> Backend:
    """The local backend with the recorder as its orchestrator and a cap of two running jobs."""
    settings = backend.settings.model_copy(update={"max_running_jobs": 2})
    return dataclasses.replace(backend, settings=settings, build_orchestrator=lambda _: orchestrator)


def submit(backend: Backend, tenant: str = "acme", **fields: Any) -> JobRecord:
    return submit_job(backend, tenant=tenant, source=SOURCE, options=AnalyzeOptions(), **fields)


def end(backend: Backend, job_id: str, status: str = "succeeded") -> None:
    """What Finalize does at the end of a job: mark it, then hand its slot on."""
    backend.jobs.update(job_id, lambda record: setattr(record, "status", status))
    job_finished(backend, job_id)


def event_types(backend: Backend, job_id: str) -> list[str]:
    lines = (backend.settings.home / "events.jsonl").read_text().splitlines()
    return [entry["detail_type"] for entry in map(json.loads, lines) if entry["job_id"] == job_id]


def test_jobs_start_up_to_the_cap_and_the_rest_wait_queued(
    lifecycle: Backend, orchestrator: RecordingOrchestrator
) -> None:
    first, second, third = submit(lifecycle), submit(lifecycle), submit(lifecycle)
    assert [first.status, second.status, third.status] == ["running", "running", "queued"]
    assert first.execution_id == f"execution-{first.job_id}-1"
    assert third.execution_id is None
    assert lifecycle.jobs.slot_holders("acme") == {first.job_id, second.job_id}
    # Another tenant has its own cap
    assert submit(lifecycle, tenant="other").status == "running"
    assert event_types(lifecycle, first.job_id) == ["Job Queued", "Job Started"]
    assert event_types(lifecycle, third.job_id) == ["Job Queued"]


def test_an_ending_job_hands_its_slot_to_the_oldest_queued_job(
    lifecycle: Backend, orchestrator: RecordingOrchestrator
) -> None:
    running = [submit(lifecycle), submit(lifecycle)]
    queued = [submit(lifecycle), submit(lifecycle)]
    end(lifecycle, running[0].job_id, "failed")
    assert lifecycle.jobs.get(queued[0].job_id).status == "running"
    assert lifecycle.jobs.get(queued[1].job_id).status == "queued"
    assert lifecycle.jobs.slot_holders("acme") == {running[1].job_id, queued[0].job_id}
    # Finishing twice, or a job that held no slot, hands nothing on
    job_finished(lifecycle, running[0].job_id)
    assert lifecycle.jobs.get(queued[1].job_id).status == "queued"
    assert orchestrator.started().count(queued[0].job_id) == 1


def test_jobs_ending_at_once_start_each_queued_job_once(
    lifecycle: Backend, orchestrator: RecordingOrchestrator
) -> None:
    running = [submit(lifecycle), submit(lifecycle)]
    queued = [submit(lifecycle) for _ in range(4)]
    for record in running:
        lifecycle.jobs.update(record.job_id, lambda current: setattr(current, "status", "succeeded"))
    barrier = threading.Barrier(len(running))

    def finish(job_id: str) -> None:
        barrier.wait()
        job_finished(lifecycle, job_id)

    threads = [threading.Thread(target=finish, args=(record.job_id,)) for record in running]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    started = [job_id for job_id in orchestrator.started() if job_id in {r.job_id for r in queued}]
    assert sorted(started) == sorted(record.job_id for record in queued[:2])
    assert len(lifecycle.jobs.slot_holders("acme")) == 2


def test_a_job_whose_execution_cannot_start_fails_and_gives_its_slot_back(
    lifecycle: Backend, orchestrator: RecordingOrchestrator
) -> None:
    orchestrator.fail_starts = True
    record = submit(lifecycle)
    assert record.status == "failed"
    assert record.error is not None
    assert record.error.type == "TransientStorageError"
    assert "could not start" in record.error.message
    assert lifecycle.jobs.slot_holders("acme") == set()
    assert event_types(lifecycle, record.job_id) == ["Job Queued", "Job Failed"]


def test_promotion_stops_at_a_start_failure_and_leaves_the_rest_queued(
    lifecycle: Backend, orchestrator: RecordingOrchestrator
) -> None:
    running = [submit(lifecycle), submit(lifecycle)]
    queued = [submit(lifecycle), submit(lifecycle)]
    orchestrator.fail_starts = True
    end(lifecycle, running[0].job_id)
    assert lifecycle.jobs.get(queued[0].job_id).status == "failed"
    assert lifecycle.jobs.get(queued[1].job_id).status == "queued"
    orchestrator.fail_starts = False
    end(lifecycle, running[1].job_id)
    assert lifecycle.jobs.get(queued[1].job_id).status == "running"


def test_cancelling_stops_a_running_job_and_frees_its_slot(
    lifecycle: Backend, orchestrator: RecordingOrchestrator
) -> None:
    running = [submit(lifecycle), submit(lifecycle)]
    waiting = submit(lifecycle)
    cancelled = cancel_job(lifecycle, running[0].job_id)
    assert cancelled.status == "cancelled"
    assert orchestrator.stops == [running[0].execution_id]
    assert all(step.status == "skipped" for step in cancelled.steps.values())
    assert lifecycle.jobs.get(waiting.job_id).status == "running"
    assert running[0].job_id not in lifecycle.jobs.slot_holders("acme")
    assert event_types(lifecycle, running[0].job_id) == ["Job Queued", "Job Started", "Job Cancelled"]
    with pytest.raises(JobStateConflict, match="already cancelled"):
        cancel_job(lifecycle, running[0].job_id)


def test_cancelling_a_queued_job_only_marks_it(
    lifecycle: Backend, orchestrator: RecordingOrchestrator
) -> None:
    running = [submit(lifecycle), submit(lifecycle)]
    queued = submit(lifecycle)
    assert cancel_job(lifecycle, queued.job_id).status == "cancelled"
    assert orchestrator.stops == []
    assert lifecycle.jobs.slot_holders("acme") == {record.job_id for record in running}
    # It is never started later
    end(lifecycle, running[0].job_id)
    assert queued.job_id not in orchestrator.started()


def test_cancelling_a_job_whose_local_execution_is_gone_still_cancels(lifecycle: Backend) -> None:
    """A local execution dies with the server process that ran it; the job can still be cancelled."""
    record = submit(lifecycle)
    lifecycle.jobs.update(record.job_id, lambda current: setattr(current, "execution_id", "gone-1"))
    assert cancel_job(lifecycle, record.job_id).status == "cancelled"
    assert lifecycle.jobs.slot_holders("acme") == set()


def test_a_retry_resets_what_did_not_succeed_and_runs_again(
    lifecycle: Backend, orchestrator: RecordingOrchestrator
) -> None:
    record = submit(lifecycle)

    def failed_at_scenes(current: JobRecord) -> None:
        current.status = "failed"
        current.steps["ingest"] = StepReport(status="succeeded", seconds=1.0, progress=1.0)
        current.steps["scenes"] = StepReport(status="failed", reason="ffmpeg died", progress=1.0)

    lifecycle.jobs.update(record.job_id, failed_at_scenes)
    job_finished(lifecycle, record.job_id)
    retried = retry_job(lifecycle, record.job_id)
    assert retried.status == "running"
    assert retried.error is None
    assert retried.steps["ingest"].status == "succeeded"
    assert retried.steps["scenes"] == StepReport()
    first_run, second_run = orchestrator.starts
    assert first_run["job_id"] == second_run["job_id"] == record.job_id
    assert first_run["run"] != second_run["run"]
    with pytest.raises(JobStateConflict, match="only failed jobs"):
        retry_job(lifecycle, record.job_id)


def test_a_late_failure_does_not_overwrite_a_cancelled_job(lifecycle: Backend) -> None:
    record = submit(lifecycle)
    cancel_job(lifecycle, record.job_id)
    failure = FailureEvent(job_id=record.job_id, error=StateError(Error="States.TaskFailed", Cause="stopped"))
    output = run_record_failure(failure, lifecycle)
    assert output.status == "cancelled"
    assert lifecycle.jobs.get(record.job_id).status == "cancelled"
    assert event_types(lifecycle, record.job_id)[-1] == "Job Cancelled"


def test_a_step_is_kept_from_an_earlier_run_only_with_its_output_stored(lifecycle: Backend) -> None:
    record = submit(lifecycle)
    assert not kept_from_earlier_run(lifecycle, record.job_id, StepName.SCENES)
    lifecycle.jobs.update(
        record.job_id, lambda current: current.steps.update(scenes=StepReport(status="succeeded"))
    )
    assert not kept_from_earlier_run(lifecycle, record.job_id, StepName.SCENES)
    lifecycle.blobs.put_bytes(job_key(record.job_id, SCENES_JSON), b"[]")
    assert kept_from_earlier_run(lifecycle, record.job_id, StepName.SCENES)
    # Finalize has no stored output that could stand for it: it always runs
    lifecycle.jobs.update(
        record.job_id, lambda current: current.steps.update(finalize=StepReport(status="succeeded"))
    )
    assert not kept_from_earlier_run(lifecycle, record.job_id, StepName.FINALIZE)


def test_an_ingest_is_kept_only_with_its_input_stored(lifecycle: Backend, tmp_path: Path) -> None:
    record = submit(lifecycle)
    lifecycle.jobs.update(
        record.job_id, lambda current: current.steps.update(ingest=StepReport(status="succeeded"))
    )
    assert not kept_from_earlier_run(lifecycle, record.job_id, StepName.INGEST)
    lifecycle.blobs.put_bytes(job_key(record.job_id, "input", "video.mp4"), b"data")
    assert kept_from_earlier_run(lifecycle, record.job_id, StepName.INGEST)
