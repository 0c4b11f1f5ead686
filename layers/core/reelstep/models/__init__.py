"""Typed models at every boundary: options, job records, artifacts and result.json."""

from reelstep.models.job import (
    OPTIONAL_STEPS,
    AnalyzeOptions,
    JobError,
    JobRecord,
    JobStatus,
    KeyframeOptions,
    SceneOptions,
    Source,
    StepName,
    StepReport,
    StepStatus,
    TranscribeOptions,
    Webhook,
    utcnow,
)
from reelstep.models.media import Keyframe, MediaInfo, Scene, Segment, Transcript, Word
from reelstep.models.result import SCHEMA_VERSION, Result, StepOutcome

__all__ = [
    "OPTIONAL_STEPS",
    "SCHEMA_VERSION",
    "AnalyzeOptions",
    "JobError",
    "JobRecord",
    "JobStatus",
    "Keyframe",
    "KeyframeOptions",
    "MediaInfo",
    "Result",
    "Scene",
    "SceneOptions",
    "Segment",
    "Source",
    "StepName",
    "StepOutcome",
    "StepReport",
    "StepStatus",
    "TranscribeOptions",
    "Transcript",
    "Webhook",
    "Word",
    "utcnow",
]
