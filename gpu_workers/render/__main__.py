"""Batch job: render the preview video (at most 720p, the transcript burned in) with NVENC or libx264.

Run as ``python -m gpu_workers.render --job-id ID`` (the job definition's command).
"""

import sys

from reelstep.handlers import batch_main
from reelstep.models import StepName
from reelstep.pipeline.render import run_render

sys.exit(batch_main(StepName.RENDER, run_render))
