"""Audio features task: loudness, brightness, noisiness and beat of every scene, from the one WAV."""

from __future__ import annotations

from reelstep.backend import Backend
from reelstep.models import StepName
from reelstep.pipeline.common import (
    AUDIO_FEATURES_JSON,
    AUDIO_WAV,
    SCENE_AUDIO_LIST,
    StepOutput,
    TaskEvent,
    job_key,
    load_scenes,
    put_json,
    run_step,
    scratch_dir,
    skip_step,
)
from reelstep.progress import ProgressFn
from reelstep.steps import audio_features


def run_audio_features(event: TaskEvent, backend: Backend) -> StepOutput:
    """Measure each scene's sound; skipped with the reason when there are no scenes or no audio."""
    scenes = load_scenes(backend, event.job_id)
    wav_key = job_key(event.job_id, AUDIO_WAV)
    if not scenes:
        return skip_step(backend, event.job_id, StepName.AUDIO_FEATURES, "no scenes to measure")
    if not backend.blobs.exists(wav_key):
        return skip_step(backend, event.job_id, StepName.AUDIO_FEATURES, "no extracted audio")

    def work(progress: ProgressFn) -> None:
        with scratch_dir(event.job_id) as scratch, backend.blobs.local_path(wav_key, scratch) as wav:
            found = audio_features.audio_features(wav, scenes, progress=progress)
        put_json(
            backend, job_key(event.job_id, AUDIO_FEATURES_JSON), SCENE_AUDIO_LIST.dump_json(found, indent=2)
        )

    return run_step(backend, event.job_id, StepName.AUDIO_FEATURES, work)
