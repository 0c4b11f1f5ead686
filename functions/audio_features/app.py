"""Lambda: per-scene sound features (RMS, spectral centroid, zero-crossing rate, tempo) from the WAV."""

from reelstep.handlers import step_handler
from reelstep.pipeline import TaskEvent
from reelstep.pipeline.audio_features import run_audio_features

handler = step_handler(run_audio_features, TaskEvent)
