"""Job progress and failure reasons, computed from the job record alone."""

from __future__ import annotations

import json

from reelstep.models import JobRecord, Source, StepReport, utcnow
from reelstep.pipeline import StateError, new_job_record, refresh_progress
from reelstep.pipeline.finalize import failure_reason


def record() -> JobRecord:
    return new_job_record("job-1", source=Source(kind="path", location="/in.mp4"))


def test_a_new_job_lists_every_step_pending_at_zero_progress() -> None:
    job = record()
    assert set(job.steps) == {
        "ingest",
        "probe",
        "scenes",
        "keyframes",
        "caption",
        "audio",
        "transcribe",
        "audio_features",
        "storylines",
        "render",
        "finalize",
    }
    refresh_progress(job)
    assert job.progress == 0.0


def test_progress_counts_finished_and_skipped_steps_whole_and_running_ones_partly() -> None:
    job = record()
    job.steps["ingest"] = StepReport(status="succeeded")
    job.steps["probe"] = StepReport(status="succeeded")
    refresh_progress(job)
    early = job.progress
    job.steps["transcribe"] = StepReport(status="running", progress=0.5)
    refresh_progress(job)
    assert 0 < early < job.progress < 1
    for report in job.steps.values():
        report.status = "skipped"
    refresh_progress(job)
    assert job.progress == 1.0


def test_the_failed_steps_own_reason_names_the_failure() -> None:
    job = record()
    job.steps["scenes"] = StepReport(status="failed", reason="ffmpeg failed: bad frame", finished_at=utcnow())
    error = failure_reason(job, StateError(Error="MediaToolError", Cause="{}"))
    assert (error.step, error.type, error.message) == ("scenes", "MediaToolError", "ffmpeg failed: bad frame")


def test_without_a_failed_step_the_cause_is_read() -> None:
    job = record()
    job.current_step = "transcribe"
    batch_cause = json.dumps({"Status": "FAILED", "StatusReason": "Host EC2 terminated"})
    error = failure_reason(job, StateError(Error="States.TaskFailed", Cause=batch_cause))
    assert (error.step, error.message) == ("transcribe", "Host EC2 terminated")
    plain = failure_reason(
        job, StateError(Error="States.Timeout", Cause="IngestFunction timed out after 900 seconds")
    )
    assert plain.message == "IngestFunction timed out after 900 seconds"
