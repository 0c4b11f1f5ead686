"""Lambda: detect scenes (PySceneDetect) on the input."""

from reelstep.handlers import step_handler
from reelstep.pipeline import TaskEvent
from reelstep.pipeline.scenes import run_scenes

handler = step_handler(run_scenes, TaskEvent)
