"""Lambda: merge the analysed chunks into scenes, their visual features and keyframe choices."""

from reelstep.handlers import step_handler
from reelstep.pipeline import TaskEvent
from reelstep.pipeline.scenes import run_merge_chunks

handler = step_handler(run_merge_chunks, TaskEvent)
