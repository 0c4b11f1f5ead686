"""Lambda: extract the soundtrack once as 16 kHz mono WAV."""

from reelstep.handlers import step_handler
from reelstep.pipeline import TaskEvent
from reelstep.pipeline.audio import run_audio

handler = step_handler(run_audio, TaskEvent)
