"""Batch job: transcribe a job's extracted audio with faster-whisper (``python -m gpu_workers.transcribe``)."""

import sys

from reelstep.handlers import batch_main
from reelstep.pipeline import run_transcribe

sys.exit(batch_main("transcribe", run_transcribe))
