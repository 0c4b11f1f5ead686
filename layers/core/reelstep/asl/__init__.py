"""A local interpreter for the Amazon States Language (JSONPath flavour).

It runs the same definition files that AWS Step Functions runs, in-process: Task states call a
TaskInvoker, Parallel branches and Map iterations run on threads, and the spec's input/output processing,
error handling, choice rules and intrinsic functions behave as they do on AWS.
"""

from reelstep.asl.errors import InvalidDefinition, StatesError
from reelstep.asl.executor import ExecutionListener, ExecutionResult, Executor, TaskInvoker

__all__ = [
    "ExecutionListener",
    "ExecutionResult",
    "Executor",
    "InvalidDefinition",
    "StatesError",
    "TaskInvoker",
]
