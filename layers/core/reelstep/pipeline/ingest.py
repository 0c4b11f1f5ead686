"""Ingest task: bring the source into the blob store."""

from __future__ import annotations

from pathlib import PurePosixPath

from reelstep.backend import Backend
from reelstep.errors import BlobNotFound, InvalidInput, SourceNotFound
from reelstep.models import StepName
from reelstep.pipeline.common import (
    INPUT_DIR,
    IngestOutput,
    TaskEvent,
    job_key,
    run_step,
    scratch_dir,
)
from reelstep.progress import ProgressFn
from reelstep.steps import ingest


def _copy_blob(backend: Backend, job_id: str, source_key: str, progress: ProgressFn) -> str:
    """Copy an uploaded (or dropped) object into the job's input folder, with the size limit applied."""
    try:
        size = backend.blobs.size(source_key)
    except BlobNotFound:
        raise SourceNotFound(f"the uploaded file is missing: nothing stored at {source_key}") from None
    ingest.check_input_size(size, backend.settings.max_input_bytes, source_key)
    name = ingest.safe_file_name(PurePosixPath(source_key).name)
    key = job_key(job_id, INPUT_DIR + name)
    progress(0.0, "copying the upload")
    with scratch_dir(job_id) as scratch, backend.blobs.local_path(source_key, scratch) as path:
        backend.blobs.put_file(key, path)
    progress(1.0, "copied the upload")
    return key


def run_ingest(event: TaskEvent, backend: Backend) -> IngestOutput:
    """Bring the source (path, URL or blob) into the blob store as ``jobs/<id>/input/<name>``."""
    record = backend.jobs.get(event.job_id)
    settings = backend.settings
    target_dir = job_key(event.job_id, INPUT_DIR)
    stored: dict[str, str] = {}

    def work(progress: ProgressFn) -> None:
        if record.source.kind == "blob":
            stored["key"] = _copy_blob(backend, event.job_id, record.source.location, progress)
            return
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
            key = f"{target_dir}{local.name}"
            backend.blobs.put_file(key, local)
            stored["key"] = key

    run_step(backend, event.job_id, StepName.INGEST, work)
    if "key" not in stored:
        # Kept from an earlier run of this job: its input is the one file in the input folder.
        kept = backend.blobs.list_keys(target_dir)
        if len(kept) != 1:
            raise InvalidInput(f"job {event.job_id} should have one stored input, not {len(kept)}")
        stored["key"] = kept[0]
    return IngestOutput(input_key=stored["key"])
