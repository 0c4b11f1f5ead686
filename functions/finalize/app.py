"""Lambda: assemble result.json and subtitles, mark the job succeeded."""

from reelstep.handlers import step_handler
from reelstep.pipeline import TaskEvent
from reelstep.pipeline.finalize import run_finalize

handler = step_handler(run_finalize, TaskEvent)
