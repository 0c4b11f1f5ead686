"""Scenes task: detect shots in the ingested video."""

from __future__ import annotations

from reelstep.backend import Backend
from reelstep.models import StepName
from reelstep.pipeline.common import (
    SCENE_LIST,
    SCENES_JSON,
    StepOutput,
    TaskEvent,
    job_key,
    load_media,
    put_json,
    require_input,
    run_step,
    scratch_dir,
)
from reelstep.progress import ProgressFn
from reelstep.steps import scenes


def run_scenes(event: TaskEvent, backend: Backend) -> StepOutput:
    input_key = require_input(event)
    record = backend.jobs.get(event.job_id)
    media = load_media(backend, event.job_id)

    def work(progress: ProgressFn) -> None:
        with scratch_dir(event.job_id) as scratch, backend.blobs.local_path(input_key, scratch) as path:
            found = scenes.detect_scenes(
                path, media, record.options.scenes, timeout=backend.settings.ffmpeg_timeout, progress=progress
            )
        put_json(backend, job_key(event.job_id, SCENES_JSON), SCENE_LIST.dump_json(found, indent=2))

    return run_step(backend, event.job_id, StepName.SCENES, work)
