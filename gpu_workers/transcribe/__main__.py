"""Batch job: transcribe a job's extracted audio with faster-whisper.

Run as ``python -m gpu_workers.transcribe --job-id ID`` (the job definition's command).
"""

import sys

from reelstep.handlers import batch_main
from reelstep.models import StepName
from reelstep.pipeline.transcribe import run_transcribe

sys.exit(batch_main(StepName.TRANSCRIBE, run_transcribe))
