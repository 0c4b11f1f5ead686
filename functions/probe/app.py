"""Lambda: probe the input with ffprobe and plan the analysis branches."""

from reelstep.handlers import step_handler
from reelstep.pipeline import TaskEvent
from reelstep.pipeline.probe import run_probe

handler = step_handler(run_probe, TaskEvent)
