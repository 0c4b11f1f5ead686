"""Lambda: a job event from JobEventsBus (EventBridge rule, async invoke) → the job's signed webhook."""

from reelstep.handlers import step_handler
from reelstep.pipeline.notify import JobEventNotification, notify_job_event

handler = step_handler(notify_job_event, JobEventNotification)
