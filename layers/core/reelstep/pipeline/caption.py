"""Caption task (the GPU Batch worker on AWS): a caption for each scene's keyframe, in captions.json."""

from __future__ import annotations

from reelstep.backend import Backend
from reelstep.models import Captions, StepName
from reelstep.pipeline.common import (
    CAPTIONS_JSON,
    StepOutput,
    TaskEvent,
    job_key,
    load_keyframes,
    load_scenes,
    put_json,
    run_step,
    scratch_dir,
)
from reelstep.progress import ProgressFn
from reelstep.steps import caption


def run_caption(event: TaskEvent, backend: Backend) -> StepOutput:
    """Caption the stored keyframes; the step is skipped, not failed, when the model is not here."""
    settings = backend.settings

    def work(progress: ProgressFn) -> None:
        options = backend.jobs.get(event.job_id).options.caption
        keyframes = load_keyframes(backend, event.job_id)
        scenes = load_scenes(backend, event.job_id)
        model_name = options.model or settings.caption_model
        chosen = caption.representatives(keyframes, scenes)
        if not chosen:
            captions = Captions(model=model_name, frames=[])
        else:
            handle = caption.load_model(model_name, device=settings.caption_device)
            progress(0.05, f"loaded {handle.name} on {handle.device}")
            with scratch_dir(event.job_id) as scratch:
                for frame, _ in chosen:
                    backend.blobs.download(job_key(event.job_id, frame.file), scratch / frame.file)
                captions = caption.caption_keyframes(
                    scratch, keyframes, scenes, handle, options, progress=progress
                )
        put_json(backend, job_key(event.job_id, CAPTIONS_JSON), captions.model_dump_json(indent=2).encode())

    return run_step(backend, event.job_id, StepName.CAPTION, work)
