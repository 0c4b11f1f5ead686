"""Ingest task: bring the source into the blob store."""

from __future__ import annotations

from reelstep.backend import Backend
from reelstep.models import StepName
from reelstep.pipeline.common import (
    IngestOutput,
    TaskEvent,
    job_key,
    run_step,
    scratch_dir,
)
from reelstep.progress import ProgressFn
from reelstep.steps import ingest


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
