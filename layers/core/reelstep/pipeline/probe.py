"""Probe task: describe the input and plan which analysis branches run."""

from __future__ import annotations

from reelstep.backend import Backend
from reelstep.models import JobRecord, MediaInfo, StepName, StepReport
from reelstep.pipeline.common import (
    MEDIA_JSON,
    Plan,
    TaskEvent,
    job_key,
    put_json,
    refresh_progress,
    require_input,
    run_step,
    scratch_dir,
)
from reelstep.progress import ProgressFn
from reelstep.steps import plan, probe


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
