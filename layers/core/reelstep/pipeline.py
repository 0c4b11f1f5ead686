"""The pipeline's tasks, one per state of the analysis state machine.

Each task reads what it needs from the stores, runs one domain step on local files, stores the
artifacts under ``jobs/<job_id>/`` and records the step in the job record. Lambda handlers, Batch
workers and the local executor all call these, so a task behaves the same wherever it runs. States
pass only references (job id, blob keys); everything large lives in the blob store.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from reelstep.backend import Backend
from reelstep.errors import BlobNotFound, InvalidInput, ModelUnavailable, ReelstepError
from reelstep.models import (
    JobError,
    JobRecord,
    Keyframe,
    MediaInfo,
    Scene,
    StepName,
    StepReport,
    Transcript,
    utcnow,
)
from reelstep.observability import logger
from reelstep.ports import JobEvent
from reelstep.progress import ProgressFn
from reelstep.steps import audio, finalize, ingest, keyframes, plan, probe, scenes, transcribe
from reelstep.subtitles import to_srt, to_vtt

STEP_WEIGHTS: dict[StepName, float] = {
    StepName.INGEST: 0.05,
    StepName.PROBE: 0.02,
    StepName.SCENES: 0.30,
    StepName.KEYFRAMES: 0.08,
    StepName.AUDIO: 0.05,
    StepName.TRANSCRIBE: 0.45,
    StepName.FINALIZE: 0.05,
}
PROGRESS_INTERVAL_SECONDS = 0.5
"""Progress writes are throttled: a job store is not a telemetry stream."""

MEDIA_JSON = "media.json"
SCENES_JSON = "scenes.json"
KEYFRAMES_JSON = "keyframes.json"
FRAMES_DIR = "frames"
AUDIO_WAV = "audio.wav"
TRANSCRIPT_JSON = "transcript.json"
RESULT_JSON = "result.json"
TRANSCRIPT_SRT = "transcript.srt"
TRANSCRIPT_VTT = "transcript.vtt"

_SCENES = TypeAdapter(list[Scene])
_KEYFRAMES = TypeAdapter(list[Keyframe])
ModelT = TypeVar("ModelT", bound=BaseModel)


def job_key(job_id: str, *parts: str) -> str:
    return "/".join(("jobs", job_id, *parts))


# ----------------------------------------------------------------------------- state payloads


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskEvent(_Payload):
    """What a task receives from the state machine: references only."""

    job_id: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    input_key: str | None = Field(default=None, description="Blob key of the ingested input.")


class StateError(_Payload):
    """A Catch's error output, as Step Functions writes it."""

    model_config = ConfigDict(extra="ignore")

    Error: str
    Cause: str | None = None


class FailureEvent(_Payload):
    job_id: str = Field(min_length=1, max_length=80)
    error: StateError


class IngestOutput(_Payload):
    input_key: str


class Plan(_Payload):
    """Probe's answer to the state machine's Choice states: which branches run."""

    has_video: bool
    has_audio: bool
    duration: float
    scenes: bool
    keyframes: bool
    audio: bool
    transcribe: bool


class StepOutput(_Payload):
    step: StepName
    status: str


def parse_event(model: type[ModelT], event: Any) -> ModelT:
    """Validate a task's input; a malformed event fails fast, naming each bad field."""
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'event'}: {error['msg']}" for error in exc.errors()
        )
        raise InvalidInput(f"malformed {model.__name__}: {problems}") from exc


# ----------------------------------------------------------------------------- job record bookkeeping


def new_job_record(job_id: str, **fields: Any) -> JobRecord:
    """A queued job with every step pending, so progress and the step list show from the start."""
    record = JobRecord(job_id=job_id, **fields)
    record.steps = {step.value: StepReport() for step in StepName}
    return record


def refresh_progress(record: JobRecord) -> None:
    """Overall progress: finished and skipped steps count whole, a running step by its own progress."""
    done = 0.0
    for step, weight in STEP_WEIGHTS.items():
        report = record.steps.get(step.value)
        if report is None:
            continue
        if report.status in ("succeeded", "skipped", "failed"):
            done += weight
        elif report.status == "running":
            done += weight * report.progress
    record.progress = round(min(1.0, done / sum(STEP_WEIGHTS.values())), 4)


def _mark_running(step: StepName) -> Callable[[JobRecord], None]:
    def change(record: JobRecord) -> None:
        if record.status == "queued":
            record.status = "running"
        record.steps[step.value] = StepReport(
            status="running", started_at=utcnow(), message=f"{step.value} started"
        )
        record.current_step = step.value
        record.message = f"{step.value} started"
        refresh_progress(record)

    return change


def _mark_finished(
    step: StepName, status: str, seconds: float, reason: str | None
) -> Callable[[JobRecord], None]:
    def change(record: JobRecord) -> None:
        report = record.steps.setdefault(step.value, StepReport())
        report.status = status  # type: ignore[assignment]
        report.seconds = round(seconds, 3)
        report.reason = reason
        report.progress = 1.0
        report.finished_at = utcnow()
        report.message = f"{step.value} {status}" + (f": {reason}" if reason else "")
        record.message = report.message
        refresh_progress(record)

    return change


def _progress_writer(backend: Backend, job_id: str, step: StepName) -> ProgressFn:
    """A throttled ProgressFn that writes the step's progress and message to the job record."""
    last_write = 0.0

    def report(fraction: float, message: str | None = None) -> None:
        nonlocal last_write
        now = time.monotonic()
        if now - last_write < PROGRESS_INTERVAL_SECONDS and fraction < 1.0:
            return
        last_write = now

        def change(record: JobRecord) -> None:
            current = record.steps.setdefault(step.value, StepReport())
            current.progress = max(0.0, min(1.0, fraction))
            if message:
                current.message = message
                record.message = message
            refresh_progress(record)

        backend.jobs.update(job_id, change)

    return report


def run_step(backend: Backend, job_id: str, step: StepName, work: Callable[[ProgressFn], None]) -> StepOutput:
    """Run one step's work with its bookkeeping: running, then succeeded, skipped or failed with a reason.

    A ModelUnavailable means the step cannot run here: it is recorded as skipped and the job goes on.
    Any other failure is recorded on the step and re-raised, so the state machine's Retry/Catch see it.
    """
    logger.append_keys(job_id=job_id, step=step.value)
    backend.jobs.update(job_id, _mark_running(step))
    started = time.monotonic()
    try:
        work(_progress_writer(backend, job_id, step))
    except ModelUnavailable as exc:
        logger.warning("step skipped", reason=str(exc))
        backend.jobs.update(job_id, _mark_finished(step, "skipped", time.monotonic() - started, str(exc)))
        return StepOutput(step=step, status="skipped")
    except ReelstepError as exc:
        logger.warning("step failed", error_type=type(exc).__name__, reason=str(exc))
        backend.jobs.update(job_id, _mark_finished(step, "failed", time.monotonic() - started, str(exc)))
        raise
    except Exception as exc:
        logger.exception("step crashed")
        reason = f"{type(exc).__name__}: {exc}"
        backend.jobs.update(job_id, _mark_finished(step, "failed", time.monotonic() - started, reason))
        raise
    finally:
        logger.remove_keys(["step"])
    backend.jobs.update(job_id, _mark_finished(step, "succeeded", time.monotonic() - started, None))
    return StepOutput(step=step, status="succeeded")


# ----------------------------------------------------------------------------- artifact helpers


@contextmanager
def scratch_dir(job_id: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"reelstep-{job_id}-") as folder:
        yield Path(folder)


def _load(backend: Backend, key: str, model: type[ModelT]) -> ModelT | None:
    try:
        return model.model_validate_json(backend.blobs.get_bytes(key))
    except BlobNotFound:
        return None


def _put_json(backend: Backend, key: str, data: bytes) -> None:
    backend.blobs.put_bytes(key, data, content_type="application/json")


def _require_input(event: TaskEvent) -> str:
    if not event.input_key:
        raise InvalidInput(f"malformed TaskEvent: input_key: required by this step (job {event.job_id})")
    return event.input_key


def _media(backend: Backend, job_id: str) -> MediaInfo:
    media = _load(backend, job_key(job_id, MEDIA_JSON), MediaInfo)
    if media is None:
        raise InvalidInput(f"job {job_id} has no {MEDIA_JSON}: probe must run first")
    return media


def _scenes(backend: Backend, job_id: str) -> list[Scene]:
    try:
        return _SCENES.validate_json(backend.blobs.get_bytes(job_key(job_id, SCENES_JSON)))
    except BlobNotFound:
        return []


def _keyframes(backend: Backend, job_id: str) -> list[Keyframe]:
    try:
        return _KEYFRAMES.validate_json(backend.blobs.get_bytes(job_key(job_id, KEYFRAMES_JSON)))
    except BlobNotFound:
        return []


# ----------------------------------------------------------------------------- the tasks


def run_ingest(event: TaskEvent, backend: Backend) -> IngestOutput:
    """Bring the source (path or URL) into the blob store as ``jobs/<id>/input/<name>``."""
    record = backend.jobs.get(event.job_id)
    settings = backend.settings
    stored: dict[str, str] = {}

    def work(progress: ProgressFn) -> None:
        with scratch_dir(event.job_id) as scratch:
            local = ingest.fetch_source(
                record.source,
                scratch,
                max_bytes=settings.max_input_bytes,
                timeout=settings.download_timeout,
                connect_timeout=settings.connect_timeout,
                max_redirects=settings.max_redirects,
                trusted_hosts=settings.trusted_hosts,
                progress=progress,
            )
            key = job_key(event.job_id, "input", local.name)
            backend.blobs.put_file(key, local)
            stored["key"] = key

    run_step(backend, event.job_id, StepName.INGEST, work)
    return IngestOutput(input_key=stored["key"])


def run_probe(event: TaskEvent, backend: Backend) -> Plan:
    """Probe the input, store media.json, and decide which analysis branches run (skips get their reason)."""
    input_key = _require_input(event)
    found: dict[str, MediaInfo] = {}

    def work(progress: ProgressFn) -> None:
        with scratch_dir(event.job_id) as scratch, backend.blobs.local_path(input_key, scratch) as path:
            media = probe.probe_media(path, timeout=backend.settings.probe_timeout)
        _put_json(backend, job_key(event.job_id, MEDIA_JSON), media.model_dump_json(indent=2).encode())
        found["media"] = media

    run_step(backend, event.job_id, StepName.PROBE, work)
    media = found["media"]
    record = backend.jobs.get(event.job_id)
    decisions = plan.plan_steps(record.options, media)

    def record_skips(current: JobRecord) -> None:
        for step, reason in decisions.items():
            if reason is not None:
                current.steps[step.value] = StepReport(status="skipped", reason=reason, progress=1.0)
        refresh_progress(current)

    backend.jobs.update(event.job_id, record_skips)
    runs = {step.value: reason is None for step, reason in decisions.items()}
    return Plan(has_video=media.has_video, has_audio=media.has_audio, duration=media.duration, **runs)


def run_scenes(event: TaskEvent, backend: Backend) -> StepOutput:
    input_key = _require_input(event)
    record = backend.jobs.get(event.job_id)
    media = _media(backend, event.job_id)

    def work(progress: ProgressFn) -> None:
        with scratch_dir(event.job_id) as scratch, backend.blobs.local_path(input_key, scratch) as path:
            found = scenes.detect_scenes(
                path, media, record.options.scenes, timeout=backend.settings.ffmpeg_timeout, progress=progress
            )
        _put_json(backend, job_key(event.job_id, SCENES_JSON), _SCENES.dump_json(found, indent=2))

    return run_step(backend, event.job_id, StepName.SCENES, work)


def run_keyframes(event: TaskEvent, backend: Backend) -> StepOutput:
    input_key = _require_input(event)
    record = backend.jobs.get(event.job_id)
    media = _media(backend, event.job_id)
    options = record.options.keyframes

    def work(progress: ProgressFn) -> None:
        known_scenes = _scenes(backend, event.job_id) or None
        with scratch_dir(event.job_id) as scratch:
            with backend.blobs.local_path(input_key, scratch) as path:
                frames = keyframes.extract_keyframes(
                    path,
                    media,
                    scratch / "out",
                    options,
                    scenes=known_scenes,
                    timeout=backend.settings.ffmpeg_timeout,
                    progress=progress,
                )
            for frame in frames:
                backend.blobs.put_file(
                    job_key(event.job_id, frame.file), scratch / "out" / frame.file, content_type="image/jpeg"
                )
        _put_json(backend, job_key(event.job_id, KEYFRAMES_JSON), _KEYFRAMES.dump_json(frames, indent=2))

    return run_step(backend, event.job_id, StepName.KEYFRAMES, work)


def run_audio(event: TaskEvent, backend: Backend) -> StepOutput:
    """Extract the soundtrack once, as 16 kHz mono WAV, for every audio consumer."""
    input_key = _require_input(event)

    def work(progress: ProgressFn) -> None:
        with scratch_dir(event.job_id) as scratch, backend.blobs.local_path(input_key, scratch) as path:
            wav = audio.extract_audio(path, scratch / AUDIO_WAV, timeout=backend.settings.ffmpeg_timeout)
            backend.blobs.put_file(job_key(event.job_id, AUDIO_WAV), wav, content_type="audio/wav")

    return run_step(backend, event.job_id, StepName.AUDIO, work)


def run_transcribe(event: TaskEvent, backend: Backend) -> StepOutput:
    """Transcribe the extracted audio once per video; the model is skipped, not failed, when unavailable."""
    record = backend.jobs.get(event.job_id)
    settings = backend.settings
    options = record.options.transcribe
    duration = _media(backend, event.job_id).duration

    def work(progress: ProgressFn) -> None:
        model = transcribe.load_model(
            options.model or settings.whisper_model,
            device=settings.whisper_device,
            compute_type=settings.whisper_compute_type,
            cpu_threads=settings.whisper_cpu_threads,
        )
        wav_key = job_key(event.job_id, AUDIO_WAV)
        with scratch_dir(event.job_id) as scratch, backend.blobs.local_path(wav_key, scratch) as wav:
            transcript = transcribe.transcribe(wav, options, model, duration=duration, progress=progress)
        _put_json(
            backend, job_key(event.job_id, TRANSCRIPT_JSON), transcript.model_dump_json(indent=2).encode()
        )

    return run_step(backend, event.job_id, StepName.TRANSCRIBE, work)


def _store_result(backend: Backend, record: JobRecord, error: JobError | None) -> None:
    """Write result.json (and subtitles when there is a transcript) from whatever artifacts exist."""
    job_id = record.job_id
    transcript = _load(backend, job_key(job_id, TRANSCRIPT_JSON), Transcript)
    result = finalize.assemble_result(
        record,
        media=_load(backend, job_key(job_id, MEDIA_JSON), MediaInfo),
        scenes=_scenes(backend, job_id),
        keyframes=_keyframes(backend, job_id),
        transcript=transcript,
        finished_at=utcnow(),
        error=error,
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
    _put_json(backend, job_key(job_id, RESULT_JSON), result.model_dump_json(indent=2).encode())


def run_finalize(event: TaskEvent, backend: Backend) -> StepOutput:
    """Assemble result.json and the subtitles, then mark the job succeeded and tell listeners."""

    def work(progress: ProgressFn) -> None:
        record = backend.jobs.get(event.job_id)
        record.steps[StepName.FINALIZE.value] = StepReport(status="succeeded")
        _store_result(backend, record, error=None)

    output = run_step(backend, event.job_id, StepName.FINALIZE, work)

    def succeed(record: JobRecord) -> None:
        record.status = "succeeded"
        record.progress = 1.0
        record.current_step = None
        record.message = "finished"

    record = backend.jobs.update(event.job_id, succeed)
    backend.events.publish(
        JobEvent(
            detail_type="Job Succeeded", job_id=record.job_id, tenant=record.tenant, status=record.status
        )
    )
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
        container = cause.get("Container") if isinstance(cause.get("Container"), dict) else {}
        detail = cause.get("errorMessage") or container.get("Reason") or cause.get("StatusReason")
        message = str(detail or message)
    return JobError(step=record.current_step, type=error.Error, message=message)


def run_record_failure(event: FailureEvent, backend: Backend) -> StepOutput:
    """The Catch target: mark the job failed with its step and reason, keep every stored artifact."""
    record = backend.jobs.get(event.job_id)
    error = failure_reason(record, event.error)

    def fail(current: JobRecord) -> None:
        for report in current.steps.values():
            if report.status in ("pending", "running"):
                report.status = "skipped"
                report.reason = f"not run: the job failed at {error.step or 'an earlier step'}"
        current.status = "failed"
        current.error = error
        current.current_step = error.step
        current.message = f"failed at {error.step}: {error.message}" if error.step else error.message

    record = backend.jobs.update(event.job_id, fail)
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
    return StepOutput(step=StepName.FINALIZE, status="failed")
