"""Lambda: the state machine's Catch target; marks the job failed with its step and reason."""

from reelstep.handlers import step_handler
from reelstep.pipeline import FailureEvent
from reelstep.pipeline.finalize import run_record_failure

handler = step_handler(run_record_failure, FailureEvent)
