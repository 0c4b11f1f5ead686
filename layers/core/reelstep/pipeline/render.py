"""Render task (the GPU Batch worker on AWS): the preview video, with the transcript burned in."""

from __future__ import annotations

from reelstep.backend import Backend
from reelstep.errors import InvalidInput
from reelstep.models import StepName, Transcript
from reelstep.pipeline.common import (
    INPUT_DIR,
    PREVIEW_MP4,
    TRANSCRIPT_JSON,
    StepOutput,
    TaskEvent,
    job_key,
    load_artifact,
    load_media,
    run_step,
    scratch_dir,
)
from reelstep.progress import ProgressFn
from reelstep.steps import render
from reelstep.subtitles import to_srt


def stored_input(backend: Backend, job_id: str) -> str:
    """The key of the job's ingested input: a Batch job gets only the job id on its command line."""
    keys = backend.blobs.list_keys(job_key(job_id, INPUT_DIR))
    if len(keys) != 1:
        found = "nothing" if not keys else f"{len(keys)} files"
        raise InvalidInput(
            f"job {job_id} should have one stored input under {job_key(job_id, INPUT_DIR)}, found {found}"
        )
    return keys[0]


def run_render(event: TaskEvent, backend: Backend) -> StepOutput:
    """Render jobs/<id>/preview.mp4 from the input, burning in the transcript when there is one."""
    settings = backend.settings

    def work(progress: ProgressFn) -> None:
        input_key = event.input_key or stored_input(backend, event.job_id)
        media = load_media(backend, event.job_id)
        transcript = load_artifact(backend, job_key(event.job_id, TRANSCRIPT_JSON), Transcript)
        encoder = render.choose_encoder(settings.render_encoder)
        progress(0.0, f"encoding with {encoder}")
        with scratch_dir(event.job_id) as scratch:
            subtitles = None
            if transcript is not None and transcript.segments:
                subtitles = scratch / "transcript.srt"
                subtitles.write_text(to_srt(transcript), encoding="utf-8")
            with backend.blobs.local_path(input_key, scratch) as source:
                preview = render.render_preview(
                    source,
                    scratch / PREVIEW_MP4,
                    media,
                    subtitles=subtitles,
                    encoder=encoder,
                    timeout=settings.ffmpeg_timeout,
                    progress=progress,
                )
            backend.blobs.put_file(job_key(event.job_id, PREVIEW_MP4), preview.path, content_type="video/mp4")

    return run_step(backend, event.job_id, StepName.RENDER, work)
