"""``result.json``: the published, versioned document a job ends with.

The JSON Schema in ``reelstep/schemas/result.schema.json`` is generated from these models
(``reelstep schema``) and committed; a test keeps the two in step. Bump ``SCHEMA_VERSION`` on any
change a reader would notice: minor for additions, major for removals or changed meaning.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from reelstep.models.job import JobError, Source
from reelstep.models.media import Keyframe, MediaInfo, Scene, Storyline, Transcript

SCHEMA_VERSION = "2.0"
"""1.1: captions on keyframes and scenes, and the preview video. 2.0: scenes have an ``id``, and
transcript segments name theirs in ``scene_id`` (replacing ``scene_index``); scenes carry ``audio``
features, and the result lists ``storylines``."""


class StepOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["succeeded", "skipped", "failed"]
    seconds: float | None = Field(default=None, description="Wall time of the step, when it ran.")
    reason: str | None = Field(default=None, description="Why it was skipped or failed.")


class Result(BaseModel):
    """The analysis of one video."""

    model_config = ConfigDict(extra="forbid", title="reelstep result")

    schema_version: str = SCHEMA_VERSION
    job_id: str
    status: Literal["succeeded", "failed"]
    source: Source
    media: MediaInfo | None = None
    scenes: list[Scene] = Field(default_factory=list)
    keyframes: list[Keyframe] = Field(default_factory=list)
    transcript: Transcript | None = None
    storylines: list[Storyline] = Field(
        default_factory=list,
        description="Groups of scenes that belong together (storylines step), in order of their first scene.",
    )
    preview: str | None = Field(
        default=None,
        description="Path relative to result.json of the preview video (render step): H.264 at most "
        "720p, with the transcript burned in when there is one.",
    )
    steps: dict[str, StepOutcome]
    error: JobError | None = None
    created_at: datetime
    finished_at: datetime
