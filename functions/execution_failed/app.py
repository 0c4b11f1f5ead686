"""Lambda: the backstop for executions that fail, time out or are aborted outside the workflow's Catch."""

from reelstep.handlers import step_handler
from reelstep.pipeline.backstop import ExecutionStatusChange, record_execution_failure

handler = step_handler(record_execution_failure, ExecutionStatusChange)
