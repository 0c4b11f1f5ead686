"""Keyframes task: extract the stills into frames/."""

from __future__ import annotations

from reelstep.backend import Backend
from reelstep.models import StepName
from reelstep.pipeline.common import (
    KEYFRAME_LIST,
    KEYFRAMES_JSON,
    StepOutput,
    TaskEvent,
    job_key,
    load_media,
    load_scenes,
    put_json,
    require_input,
    run_step,
    scratch_dir,
)
from reelstep.progress import ProgressFn
from reelstep.steps import keyframes


def run_keyframes(event: TaskEvent, backend: Backend) -> StepOutput:
    input_key = require_input(event)
    record = backend.jobs.get(event.job_id)
    media = load_media(backend, event.job_id)
    options = record.options.keyframes

    def work(progress: ProgressFn) -> None:
        known_scenes = load_scenes(backend, event.job_id) or None
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
        put_json(backend, job_key(event.job_id, KEYFRAMES_JSON), KEYFRAME_LIST.dump_json(frames, indent=2))

    return run_step(backend, event.job_id, StepName.KEYFRAMES, work)
