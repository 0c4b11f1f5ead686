"""Batch job: caption the keyframe standing for each scene with an image-captioning model.

Run as ``python -m gpu_workers.caption --job-id ID`` (the job definition's command).
"""

import sys

from reelstep.handlers import batch_main
from reelstep.models import StepName
from reelstep.pipeline.caption import run_caption

sys.exit(batch_main(StepName.CAPTION, run_caption))
