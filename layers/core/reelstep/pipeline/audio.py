"""Audio task: extract the soundtrack once for every audio consumer."""

from __future__ import annotations

from reelstep.backend import Backend
from reelstep.models import StepName
from reelstep.pipeline.common import (
    AUDIO_WAV,
    StepOutput,
    TaskEvent,
    job_key,
    require_input,
    run_step,
    scratch_dir,
)
from reelstep.progress import ProgressFn
from reelstep.steps import audio


def run_audio(event: TaskEvent, backend: Backend) -> StepOutput:
    """Extract the soundtrack once, as 16 kHz mono WAV, for every audio consumer."""
    input_key = require_input(event)

    def work(progress: ProgressFn) -> None:
        with scratch_dir(event.job_id) as scratch, backend.blobs.local_path(input_key, scratch) as path:
            wav = audio.extract_audio(path, scratch / AUDIO_WAV, timeout=backend.settings.ffmpeg_timeout)
            backend.blobs.put_file(job_key(event.job_id, AUDIO_WAV), wav, content_type="audio/wav")

    return run_step(backend, event.job_id, StepName.AUDIO, work)
