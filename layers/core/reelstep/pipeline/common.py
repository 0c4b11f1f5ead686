"""What every pipeline task shares: state payloads, job-record bookkeeping, artifact keys and loaders.

Each task reads what it needs from the stores, runs one domain step on local files, stores the
artifacts under ``jobs/<job_id>/`` and records the step in the job record. Lambda handlers, Batch
workers and the local executor all call these, so a task behaves the same wherever it runs. States
pass only references (job id, blob keys); everything large lives in the blob store.
"""

from __future__ import annotations

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
    JobRecord,
    Keyframe,
    MediaInfo,
    Scene,
    SceneAudio,
    StepName,
    StepReport,
    utcnow,
)
from reelstep.models.analysis import ChunkSpec
from reelstep.observability import logger
from reelstep.progress import ProgressFn

STEP_WEIGHTS: dict[StepName, float] = {
    StepName.INGEST: 0.05,
    StepName.PROBE: 0.02,
    StepName.SCENES: 0.30,
    StepName.KEYFRAMES: 0.08,
    StepName.CAPTION: 0.10,
    StepName.AUDIO: 0.05,
    StepName.TRANSCRIBE: 0.45,
    StepName.AUDIO_FEATURES: 0.02,
    StepName.STORYLINES: 0.05,
    StepName.RENDER: 0.20,
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
CAPTIONS_JSON = "captions.json"
AUDIO_FEATURES_JSON = "audio_features.json"
STORYLINES_JSON = "storylines.json"
PREVIEW_MP4 = "preview.mp4"

INPUT_DIR = "input/"

STORED_OUTPUTS: dict[StepName, str] = {
    StepName.INGEST: INPUT_DIR,
    StepName.PROBE: MEDIA_JSON,
    StepName.SCENES: SCENES_JSON,
    StepName.KEYFRAMES: KEYFRAMES_JSON,
    StepName.AUDIO: AUDIO_WAV,
    StepName.TRANSCRIBE: TRANSCRIPT_JSON,
    StepName.CAPTION: CAPTIONS_JSON,
    StepName.AUDIO_FEATURES: AUDIO_FEATURES_JSON,
    StepName.STORYLINES: STORYLINES_JSON,
    StepName.RENDER: PREVIEW_MP4,
}
"""The artifact (a key, or a folder ending in "/") whose presence shows a step's output is stored.

A retried job keeps the steps that succeeded before and still have it; steps absent here always run.
"""

SCENE_LIST = TypeAdapter(list[Scene])
KEYFRAME_LIST = TypeAdapter(list[Keyframe])
SCENE_AUDIO_LIST = TypeAdapter(list[SceneAudio])
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
    caption: bool
    audio_features: bool
    storylines: bool
    render: bool
    chunks: list[ChunkSpec] = Field(
        default_factory=list, description="The picture analysis Map's items; empty when scenes do not run."
    )
    chunk_concurrency: int = Field(default=1, ge=1, description="The analysis Map's MaxConcurrency.")
    distributed: bool = Field(
        default=False, description="Whether the analysis Map runs distributed (very long inputs, on AWS)."
    )


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


def skip_step(backend: Backend, job_id: str, step: StepName, reason: str) -> StepOutput:
    """Record that ``step`` has nothing to work on here (its inputs did not come), and why."""

    def change(record: JobRecord) -> None:
        record.steps[step.value] = StepReport(
            status="skipped", reason=reason, progress=1.0, message=f"{step.value} skipped: {reason}"
        )
        record.message = f"{step.value} skipped: {reason}"
        refresh_progress(record)

    logger.info("step skipped", job_id=job_id, step=step.value, reason=reason)
    backend.jobs.update(job_id, change)
    return StepOutput(step=step, status="skipped")


def kept_from_earlier_run(backend: Backend, job_id: str, step: StepName) -> bool:
    """True when the job record has the step succeeded and its output is still in the blob store."""
    stored = STORED_OUTPUTS.get(step)
    if stored is None:
        return False
    report = backend.jobs.get(job_id).steps.get(step.value)
    if report is None or report.status != "succeeded":
        return False
    key = job_key(job_id, stored)
    return bool(backend.blobs.list_keys(key)) if stored.endswith("/") else backend.blobs.exists(key)


def run_step(backend: Backend, job_id: str, step: StepName, work: Callable[[ProgressFn], None]) -> StepOutput:
    """Run one step's work with its bookkeeping: running, then succeeded, skipped or failed with a reason.

    A ModelUnavailable means the step cannot run here: it is recorded as skipped and the job goes on.
    Any other failure is recorded on the step and re-raised, so the state machine's Retry/Catch see it.
    A step that an earlier run of this job (before a retry) finished, with its output still stored, is
    not run again.
    """
    if kept_from_earlier_run(backend, job_id, step):
        logger.info("step kept from an earlier run", job_id=job_id, step=step.value)
        return StepOutput(step=step, status="succeeded")
    logger.thread_safe_append_keys(job_id=job_id, step=step.value)
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
        logger.thread_safe_remove_keys(["job_id", "step"])
    backend.jobs.update(job_id, _mark_finished(step, "succeeded", time.monotonic() - started, None))
    return StepOutput(step=step, status="succeeded")


# ----------------------------------------------------------------------------- artifact helpers


@contextmanager
def scratch_dir(job_id: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"reelstep-{job_id}-") as folder:
        yield Path(folder)


def load_artifact(backend: Backend, key: str, model: type[ModelT]) -> ModelT | None:
    try:
        return model.model_validate_json(backend.blobs.get_bytes(key))
    except BlobNotFound:
        return None


def put_json(backend: Backend, key: str, data: bytes) -> None:
    backend.blobs.put_bytes(key, data, content_type="application/json")


def require_input(event: TaskEvent) -> str:
    if not event.input_key:
        raise InvalidInput(f"malformed TaskEvent: input_key: required by this step (job {event.job_id})")
    return event.input_key


def load_media(backend: Backend, job_id: str) -> MediaInfo:
    media = load_artifact(backend, job_key(job_id, MEDIA_JSON), MediaInfo)
    if media is None:
        raise InvalidInput(f"job {job_id} has no {MEDIA_JSON}: probe must run first")
    return media


def load_scenes(backend: Backend, job_id: str) -> list[Scene]:
    try:
        return SCENE_LIST.validate_json(backend.blobs.get_bytes(job_key(job_id, SCENES_JSON)))
    except BlobNotFound:
        return []


def load_audio_features(backend: Backend, job_id: str) -> list[SceneAudio]:
    try:
        return SCENE_AUDIO_LIST.validate_json(backend.blobs.get_bytes(job_key(job_id, AUDIO_FEATURES_JSON)))
    except BlobNotFound:
        return []


def load_keyframes(backend: Backend, job_id: str) -> list[Keyframe]:
    try:
        return KEYFRAME_LIST.validate_json(backend.blobs.get_bytes(job_key(job_id, KEYFRAMES_JSON)))
    except BlobNotFound:
        return []
