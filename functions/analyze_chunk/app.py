"""Lambda: analyse one chunk of the picture (one iteration of the analysis Map)."""

from reelstep.handlers import step_handler
from reelstep.pipeline.scenes import ChunkEvent, run_analyze_chunk

handler = step_handler(run_analyze_chunk, ChunkEvent)
