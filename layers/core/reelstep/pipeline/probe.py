"""Probe task: describe the input and plan which analysis branches run."""

from __future__ import annotations

from typing import Any

from reelstep.backend import Backend
from reelstep.media.cpus import available_cpus
from reelstep.models import JobRecord, MediaInfo, StepName, StepReport
from reelstep.pipeline.common import (
    MEDIA_JSON,
    Plan,
    TaskEvent,
    job_key,
    load_media,
    put_json,
    refresh_progress,
    require_input,
    run_step,
    scratch_dir,
)
from reelstep.progress import ProgressFn
from reelstep.settings import Settings
from reelstep.steps import plan, probe, timeline


def run_probe(event: TaskEvent, backend: Backend) -> Plan:
    """Probe the input, store media.json, and decide which analysis branches run (skips get their reason)."""
    input_key = require_input(event)
    found: dict[str, MediaInfo] = {}

    def work(progress: ProgressFn) -> None:
        with scratch_dir(event.job_id) as scratch, backend.blobs.local_path(input_key, scratch) as path:
            media = probe.probe_media(path, timeout=backend.settings.probe_timeout)
        put_json(backend, job_key(event.job_id, MEDIA_JSON), media.model_dump_json(indent=2).encode())
        found["media"] = media

    run_step(backend, event.job_id, StepName.PROBE, work)
    media = found["media"] if "media" in found else load_media(backend, event.job_id)
    record = backend.jobs.get(event.job_id)
    decisions = plan.plan_steps(record.options, media)

    def record_skips(current: JobRecord) -> None:
        for step, reason in decisions.items():
            if reason is not None:
                current.steps[step.value] = StepReport(status="skipped", reason=reason, progress=1.0)
        refresh_progress(current)

    backend.jobs.update(event.job_id, record_skips)
    runs = {step.value: reason is None for step, reason in decisions.items()}
    fan_out = analysis_fan_out(media, backend.settings) if runs[StepName.SCENES.value] else {}
    facts = {"has_video": media.has_video, "has_audio": media.has_audio, "duration": media.duration}
    return Plan.model_validate({**facts, **runs, **fan_out})


def analysis_fan_out(media: MediaInfo, settings: Settings) -> dict[str, Any]:
    """The picture analysis Map's chunks and concurrency: locally the chunks share this machine's CPUs,
    on AWS each is its own Lambda, and a very long input fans out as a Distributed Map."""
    local = settings.backend == "local"
    cpus = available_cpus()
    concurrency = min(settings.chunk_concurrency, cpus) if local else settings.chunk_concurrency
    chunks = timeline.plan_chunks(
        media, chunk_seconds=settings.chunk_seconds, parallel=concurrency, cpus=cpus if local else 0
    )
    return {
        "chunks": chunks,
        "chunk_concurrency": max(1, min(concurrency, len(chunks))),
        "distributed": len(chunks) > settings.distributed_map_chunks,
    }
