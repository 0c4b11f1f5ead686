"""Lambda: S3 ObjectCreated under incoming/<tenant>/ → one job per object write (duplicates are safe)."""

from reelstep.handlers import step_handler
from reelstep.intake import S3EventNotification, intake_s3_event

handler = step_handler(intake_s3_event, S3EventNotification)
