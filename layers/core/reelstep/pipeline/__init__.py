"""The pipeline's tasks, one module per state of the analysis state machine.

Each task reads what it needs from the stores, runs one domain step on local files, stores the
artifacts under ``jobs/<job_id>/`` and records the step in the job record. Lambda handlers, Batch
workers and the local executor all call them, so a task behaves the same wherever it runs. Each
Lambda imports only its own task module, so no function pays for another step's heavy imports.
"""

from reelstep.pipeline.common import (
    FailureEvent,
    StateError,
    TaskEvent,
    job_key,
    new_job_record,
    parse_event,
    refresh_progress,
)

__all__ = [
    "FailureEvent",
    "StateError",
    "TaskEvent",
    "job_key",
    "new_job_record",
    "parse_event",
    "refresh_progress",
]
