"""Finalize and Record Failure tasks: result.json, subtitles, the job's end state and event."""

from __future__ import annotations

import json

from reelstep.backend import Backend
from reelstep.lifecycle import job_finished
from reelstep.models import (
    Captions,
    JobError,
    JobRecord,
    MediaInfo,
    StepName,
    StepReport,
    Storylines,
    Transcript,
    utcnow,
)
from reelstep.pipeline.common import (
    CAPTIONS_JSON,
    MEDIA_JSON,
    PREVIEW_MP4,
    RESULT_JSON,
    STORYLINES_JSON,
    TRANSCRIPT_JSON,
    TRANSCRIPT_SRT,
    TRANSCRIPT_VTT,
    FailureEvent,
    StateError,
    StepOutput,
    TaskEvent,
    job_key,
    load_artifact,
    load_audio_features,
    load_keyframes,
    load_scenes,
    put_json,
    run_step,
)
from reelstep.ports import JobEvent
from reelstep.progress import ProgressFn
from reelstep.steps import finalize
from reelstep.subtitles import to_srt, to_vtt

ENDED_OTHERWISE = frozenset({"cancelled", "succeeded"})


def _store_result(backend: Backend, record: JobRecord, error: JobError | None) -> None:
    """Write result.json (and subtitles when there is a transcript) from whatever artifacts exist."""
    job_id = record.job_id
    transcript = load_artifact(backend, job_key(job_id, TRANSCRIPT_JSON), Transcript)
    result = finalize.assemble_result(
        record,
        media=load_artifact(backend, job_key(job_id, MEDIA_JSON), MediaInfo),
        scenes=load_scenes(backend, job_id),
        keyframes=load_keyframes(backend, job_id),
        transcript=transcript,
        finished_at=utcnow(),
        error=error,
        captions=load_artifact(backend, job_key(job_id, CAPTIONS_JSON), Captions),
        preview=PREVIEW_MP4 if backend.blobs.exists(job_key(job_id, PREVIEW_MP4)) else None,
        audio=load_audio_features(backend, job_id),
        storylines=load_artifact(backend, job_key(job_id, STORYLINES_JSON), Storylines),
    )
    if result.transcript is not None:
        backend.blobs.put_bytes(
            job_key(job_id, TRANSCRIPT_SRT),
            to_srt(result.transcript).encode(),
            content_type="application/x-subrip",
        )
        backend.blobs.put_bytes(
            job_key(job_id, TRANSCRIPT_VTT), to_vtt(result.transcript).encode(), content_type="text/vtt"
        )
    put_json(backend, job_key(job_id, RESULT_JSON), result.model_dump_json(indent=2).encode())


def run_finalize(event: TaskEvent, backend: Backend) -> StepOutput:
    """Assemble result.json and the subtitles, then mark the job succeeded and tell listeners."""

    def work(progress: ProgressFn) -> None:
        record = backend.jobs.get(event.job_id)
        started = record.steps[StepName.FINALIZE.value].started_at or utcnow()
        seconds = round((utcnow() - started).total_seconds(), 3)
        record.steps[StepName.FINALIZE.value] = StepReport(status="succeeded", seconds=seconds)
        _store_result(backend, record, error=None)

    output = run_step(backend, event.job_id, StepName.FINALIZE, work)

    def succeed(record: JobRecord) -> None:
        if record.status == "cancelled":
            return
        record.status = "succeeded"
        record.progress = 1.0
        record.current_step = None
        record.message = "finished"

    record = backend.jobs.update(event.job_id, succeed)
    if record.status == "succeeded":
        backend.events.publish(
            JobEvent(
                detail_type="Job Succeeded", job_id=record.job_id, tenant=record.tenant, status=record.status
            )
        )
    job_finished(backend, event.job_id)
    return output


def failure_reason(record: JobRecord, error: StateError) -> JobError:
    """Name the failed step and a human reason: the step's own record first, else the state error's cause."""
    failed = [
        (report.finished_at, name, report)
        for name, report in record.steps.items()
        if report.status == "failed" and report.finished_at is not None
    ]
    if failed:
        _, step, report = max(failed, key=lambda item: item[0] or utcnow())
        return JobError(step=step, type=error.Error, message=report.reason or error.Error)
    message = error.Cause or error.Error
    try:
        cause = json.loads(error.Cause or "")
    except ValueError:
        cause = None
    if isinstance(cause, dict):
        container = cause.get("Container")
        reason = container.get("Reason") if isinstance(container, dict) else None
        detail = cause.get("errorMessage") or reason or cause.get("StatusReason")
        message = str(detail or message)
    return JobError(step=record.current_step, type=error.Error, message=message)


def run_record_failure(event: FailureEvent, backend: Backend) -> StepOutput:
    """The Catch target: mark the job failed with its step and reason, keep every stored artifact.

    A job that ended otherwise stays as it ended: a cancelled job's stopping steps, or a failure after
    the job was marked succeeded (releasing its slot, say), add nothing to it.
    """
    record = backend.jobs.get(event.job_id)
    error = failure_reason(record, event.error)

    def fail(current: JobRecord) -> None:
        if current.status in ENDED_OTHERWISE:
            return
        for report in current.steps.values():
            if report.status in ("pending", "running"):
                report.status = "skipped"
                report.reason = f"not run: the job failed at {error.step or 'an earlier step'}"
        current.status = "failed"
        current.error = error
        current.current_step = error.step
        current.message = f"failed at {error.step}: {error.message}" if error.step else error.message

    record = backend.jobs.update(event.job_id, fail)
    if record.status in ENDED_OTHERWISE:
        job_finished(backend, event.job_id)
        return StepOutput(step=StepName.FINALIZE, status=record.status)
    _store_result(backend, record, error=error)
    backend.events.publish(
        JobEvent(
            detail_type="Job Failed",
            job_id=record.job_id,
            tenant=record.tenant,
            status=record.status,
            detail={"error": error.model_dump(mode="json")},
        )
    )
    job_finished(backend, event.job_id)
    return StepOutput(step=StepName.FINALIZE, status="failed")
