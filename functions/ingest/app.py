"""Lambda: bring the source (path or URL) into the blob store."""

from reelstep.handlers import step_handler
from reelstep.pipeline import TaskEvent
from reelstep.pipeline.ingest import run_ingest

handler = step_handler(run_ingest, TaskEvent)
