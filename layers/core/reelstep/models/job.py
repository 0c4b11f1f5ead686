"""Jobs: what was asked (options), and where the work stands (the job record)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class StepName(StrEnum):
    INGEST = "ingest"
    PROBE = "probe"
    SCENES = "scenes"
    KEYFRAMES = "keyframes"
    AUDIO = "audio"
    TRANSCRIBE = "transcribe"
    FINALIZE = "finalize"


OPTIONAL_STEPS: tuple[StepName, ...] = (
    StepName.SCENES,
    StepName.KEYFRAMES,
    StepName.AUDIO,
    StepName.TRANSCRIBE,
)

StepStatus = Literal["pending", "running", "succeeded", "skipped", "failed"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
KeyframeMode = Literal["interval", "scene"]
SceneDetectorName = Literal["content", "adaptive"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KeyframeOptions(_Model):
    mode: KeyframeMode = "interval"
    max_frames: int = Field(default=8, ge=1, le=100)
    max_size: int = Field(default=512, ge=16, le=4096, description="Long side of each JPEG in pixels.")
    jpeg_quality: int = Field(default=70, ge=1, le=100)


class SceneOptions(_Model):
    detector: SceneDetectorName = "content"
    threshold: float = Field(
        default=27.0,
        gt=0,
        description="ContentDetector's threshold; AdaptiveDetector keeps its own default.",
    )
    min_scene_len: int = Field(default=15, ge=1, description="Shortest scene in frames.")


class TranscribeOptions(_Model):
    model: str | None = Field(
        default=None, description="faster-whisper model name or path; default from settings."
    )
    language: str | None = Field(default=None, description="ISO code; detected when absent.")


class AnalyzeOptions(_Model):
    """Everything a caller can choose about one analysis job."""

    steps: list[StepName] = Field(default_factory=lambda: list(OPTIONAL_STEPS))
    keyframes: KeyframeOptions = Field(default_factory=KeyframeOptions)
    scenes: SceneOptions = Field(default_factory=SceneOptions)
    transcribe: TranscribeOptions = Field(default_factory=TranscribeOptions)

    @field_validator("steps")
    @classmethod
    def _known_optional_steps(cls, steps: list[StepName]) -> list[StepName]:
        return [step for step in OPTIONAL_STEPS if step in steps]


class Source(_Model):
    """Where the input comes from: a local path, an http(s) URL, or a key in the blob store (uploads)."""

    kind: Literal["path", "url", "blob"]
    location: str


class Webhook(_Model):
    """Where job events are POSTed, signed with HMAC-SHA256 of ``secret`` when one is given."""

    url: str
    secret: str | None = Field(default=None, min_length=8, max_length=256)


class StepReport(_Model):
    status: StepStatus = "pending"
    seconds: float | None = None
    reason: str | None = None
    progress: float = Field(default=0.0, ge=0, le=1)
    message: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class JobError(_Model):
    step: str | None = None
    type: str
    message: str


class JobRecord(_Model):
    """The job's state as the job store keeps it; ``version`` guards concurrent writers."""

    job_id: str
    tenant: str = "local"
    status: JobStatus = "queued"
    source: Source
    options: AnalyzeOptions = Field(default_factory=AnalyzeOptions)
    progress: float = Field(default=0.0, ge=0, le=1)
    current_step: str | None = None
    message: str | None = None
    steps: dict[str, StepReport] = Field(default_factory=dict)
    error: JobError | None = None
    execution_id: str | None = None
    webhook: Webhook | None = None
    request_fingerprint: str | None = Field(
        default=None, description="Hash of the creating request, to tell a retry from a reused key."
    )
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    version: int = 0
