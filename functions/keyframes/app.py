"""Lambda: extract keyframes by seeking, interval or one per scene."""

from reelstep.handlers import step_handler
from reelstep.pipeline import TaskEvent
from reelstep.pipeline.keyframes import run_keyframes

handler = step_handler(run_keyframes, TaskEvent)
