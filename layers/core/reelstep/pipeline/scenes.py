"""Scenes tasks: analyse one chunk of the picture (the Map's iteration), then merge the chunks into scenes.

Both belong to the job's ``scenes`` step: the first chunk to start marks it running, each chunk that
finishes moves its progress and message on ("analysed chunk 3 of 8"), and the merge finishes it. Chunks
store their per-frame signals under ``jobs/<id>/chunks/<n>.json`` and return only that key.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import Field

from reelstep.backend import Backend
from reelstep.errors import ModelUnavailable, ReelstepError
from reelstep.models import JobRecord, StepName, StepReport, utcnow
from reelstep.models.analysis import ChunkSpec
from reelstep.observability import logger
from reelstep.pipeline.common import (
    SCENE_LIST,
    SCENES_JSON,
    StepOutput,
    TaskEvent,
    job_key,
    kept_from_earlier_run,
    load_artifact,
    load_media,
    put_json,
    refresh_progress,
    require_input,
    run_step,
    scratch_dir,
)
from reelstep.progress import ProgressFn
from reelstep.steps import chunks, scenes, timeline

CHUNKS_DIR = "chunks"
CHUNKS_SHARE = 0.9
"""The part of the scenes step's progress the chunks make up; the merge is the rest."""


class ChunkEvent(TaskEvent):
    """The Map's item for one chunk: the job's references and which frames to analyse."""

    chunk: ChunkSpec


class ChunkOutput(StepOutput):
    step: StepName = StepName.SCENES
    key: str | None = Field(default=None, description="Where the chunk's analysis is stored.")


def chunk_key(job_id: str, index: int) -> str:
    return job_key(job_id, CHUNKS_DIR, f"{index:05d}.json")


def _change_scenes(change: Callable[[StepReport, JobRecord], None]) -> Callable[[JobRecord], None]:
    def apply(record: JobRecord) -> None:
        report = record.steps.setdefault(StepName.SCENES.value, StepReport())
        change(report, record)
        refresh_progress(record)

    return apply


def _started(report: StepReport, record: JobRecord) -> None:
    """The first chunk marks the step running; later ones (and retries) leave its start time alone."""
    if report.status != "running":
        report.status, report.started_at, report.message = "running", utcnow(), "scenes started"
    if record.status == "queued":
        record.status = "running"
    record.current_step = StepName.SCENES.value


def _ended(status: str, reason: str) -> Callable[[StepReport, JobRecord], None]:
    def change(report: StepReport, record: JobRecord) -> None:
        if report.status in ("failed", "skipped"):
            return
        report.status = status  # type: ignore[assignment]
        report.reason, report.progress, report.finished_at = reason, 1.0, utcnow()
        if report.started_at is not None:
            report.seconds = round((report.finished_at - report.started_at).total_seconds(), 3)
        report.message = record.message = f"scenes {status}: {reason}"

    return change


def _chunk_done(done: int, count: int) -> Callable[[StepReport, JobRecord], None]:
    def change(report: StepReport, record: JobRecord) -> None:
        if report.status != "running":
            return
        report.progress = max(report.progress, round(CHUNKS_SHARE * done / count, 4))
        report.message = record.message = f"analysed chunk {done} of {count}"

    return change


def run_analyze_chunk(event: ChunkEvent, backend: Backend) -> ChunkOutput:
    """Decode one chunk once and store every frame's signals; the key goes back to the Map.

    A model that cannot load (TransNetV2 without its package) marks the scenes step skipped with the
    reason and the job goes on; any other failure marks it failed and is re-raised for Retry/Catch.
    """
    job_id, spec = event.job_id, event.chunk
    key = chunk_key(job_id, spec.index)
    if kept_from_earlier_run(backend, job_id, StepName.SCENES):
        return ChunkOutput(status="succeeded")
    record = backend.jobs.update(job_id, _change_scenes(_started))
    if record.steps[StepName.SCENES.value].status == "skipped":
        return ChunkOutput(status="skipped")
    input_key = require_input(event)
    media = load_media(backend, job_id)
    settings = backend.settings
    logger.thread_safe_append_keys(job_id=job_id, step=StepName.SCENES.value)
    try:
        size = scenes.detection_size(*chunks.require_video(media))
        with scratch_dir(job_id) as scratch, backend.blobs.local_path(input_key, scratch) as path:
            analysis = chunks.analyse_chunk(
                path,
                media,
                spec,
                record.options.scenes,
                size=size,
                rate=timeline.frame_rate(media),
                timeout=settings.ffmpeg_timeout,
                transnet_device=settings.transnet_device,
            )
        put_json(backend, key, analysis.model_dump_json().encode())
    except ModelUnavailable as exc:
        logger.warning("step skipped", reason=str(exc))
        backend.jobs.update(job_id, _change_scenes(_ended("skipped", str(exc))))
        return ChunkOutput(status="skipped")
    except Exception as exc:
        reason = str(exc) if isinstance(exc, ReelstepError) else f"{type(exc).__name__}: {exc}"
        logger.warning("chunk failed", chunk=spec.index, error_type=type(exc).__name__, reason=reason)
        backend.jobs.update(job_id, _change_scenes(_ended("failed", reason)))
        raise
    finally:
        logger.thread_safe_remove_keys(["job_id", "step"])
    done = len(backend.blobs.list_keys(job_key(job_id, CHUNKS_DIR) + "/"))
    backend.jobs.update(job_id, _change_scenes(_chunk_done(min(done, spec.count), spec.count)))
    return ChunkOutput(status="succeeded", key=key)


def run_merge_chunks(event: TaskEvent, backend: Backend) -> StepOutput:
    """Join the chunks' signals as one pass, detect the cuts once over them, store scenes.json (with each
    scene's visual features and keyframe choice), and finish the scenes step."""
    record = backend.jobs.get(event.job_id)
    if record.steps.get(StepName.SCENES.value, StepReport()).status == "skipped":
        return StepOutput(step=StepName.SCENES, status="skipped")
    started = record.steps.get(StepName.SCENES.value, StepReport()).started_at
    media = load_media(backend, event.job_id)
    options = record.options.scenes
    settings = backend.settings

    def work(progress: ProgressFn) -> None:
        keys = sorted(backend.blobs.list_keys(job_key(event.job_id, CHUNKS_DIR) + "/"))
        analyses = [load_artifact(backend, key, chunks.ChunkAnalysis) for key in keys]
        found = scenes.merge_scenes(
            [analysis for analysis in analyses if analysis is not None],
            media,
            options,
            transnet_device=settings.transnet_device,
        )
        put_json(backend, job_key(event.job_id, SCENES_JSON), SCENE_LIST.dump_json(found, indent=2))
        progress(1.0, f"{len(found)} scenes")

    output = run_step(backend, event.job_id, StepName.SCENES, work)
    if started is not None and output.status == "succeeded":

        def whole_step(report: StepReport, current: JobRecord) -> None:
            report.started_at = started
            if report.finished_at is not None:
                report.seconds = round((report.finished_at - started).total_seconds(), 3)

        backend.jobs.update(event.job_id, _change_scenes(whole_step))
    return output
