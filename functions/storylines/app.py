"""Lambda (container image): group the scenes into storylines by transcript, captions and colour."""

from reelstep.handlers import step_handler
from reelstep.pipeline import TaskEvent
from reelstep.pipeline.storylines import run_storylines

handler = step_handler(run_storylines, TaskEvent)
