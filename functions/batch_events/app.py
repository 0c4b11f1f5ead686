"""Lambda: Batch job state changes of the GPU queue become the job's message ("waiting for GPU capacity")."""

from reelstep.handlers import step_handler
from reelstep.pipeline.backstop import BatchJobStateChange, record_batch_state

handler = step_handler(record_batch_state, BatchJobStateChange)
