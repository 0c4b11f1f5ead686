"""Transcribe task (the GPU Batch worker on AWS)."""

from __future__ import annotations

from reelstep.backend import Backend
from reelstep.models import StepName
from reelstep.pipeline.common import (
    AUDIO_WAV,
    TRANSCRIPT_JSON,
    StepOutput,
    TaskEvent,
    job_key,
    load_media,
    put_json,
    run_step,
    scratch_dir,
)
from reelstep.progress import ProgressFn
from reelstep.steps import transcribe


def run_transcribe(event: TaskEvent, backend: Backend) -> StepOutput:
    """Transcribe the extracted audio once per video; the model is skipped, not failed, when unavailable."""
    record = backend.jobs.get(event.job_id)
    settings = backend.settings
    options = record.options.transcribe
    duration = load_media(backend, event.job_id).duration

    def work(progress: ProgressFn) -> None:
        model = transcribe.load_model(
            options.model or settings.whisper_model,
            device=settings.whisper_device,
            compute_type=settings.whisper_compute_type,
            cpu_threads=settings.whisper_cpu_threads,
        )
        wav_key = job_key(event.job_id, AUDIO_WAV)
        with scratch_dir(event.job_id) as scratch, backend.blobs.local_path(wav_key, scratch) as wav:
            transcript = transcribe.transcribe(wav, options, model, duration=duration, progress=progress)
        put_json(
            backend, job_key(event.job_id, TRANSCRIPT_JSON), transcript.model_dump_json(indent=2).encode()
        )

    return run_step(backend, event.job_id, StepName.TRANSCRIBE, work)
