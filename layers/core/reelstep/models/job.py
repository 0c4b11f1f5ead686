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
    CAPTION = "caption"
    AUDIO = "audio"
    TRANSCRIBE = "transcribe"
    AUDIO_FEATURES = "audio_features"
    STORYLINES = "storylines"
    RENDER = "render"
    FINALIZE = "finalize"


OPTIONAL_STEPS: tuple[StepName, ...] = (
    StepName.SCENES,
    StepName.KEYFRAMES,
    StepName.CAPTION,
    StepName.AUDIO,
    StepName.TRANSCRIBE,
    StepName.AUDIO_FEATURES,
    StepName.STORYLINES,
    StepName.RENDER,
)
"""Every step a caller may ask for, in the order they run; ingest, probe and finalize always run."""

DEFAULT_STEPS: tuple[StepName, ...] = tuple(step for step in OPTIONAL_STEPS if step != StepName.RENDER)
"""What runs when a caller names no steps: everything but the preview render, which costs a re-encode."""

StepStatus = Literal["pending", "running", "succeeded", "skipped", "failed"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
KeyframeMode = Literal["interval", "scene"]
SceneDetectorName = Literal[
    "content", "adaptive", "threshold", "histogram", "hash", "transitions", "transnetv2"
]


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
    detector: SceneDetectorName = Field(
        default="transitions",
        description="transitions (the default, best F1 in bench/bench_detectors.py): hard cuts, fades "
        "through black and dissolves; content/adaptive/threshold/histogram/hash: PySceneDetect's "
        "detectors; transnetv2: the learned detector (needs the ml extra).",
    )
    threshold: float | None = Field(
        default=None,
        gt=0,
        description="The detector's own threshold; when absent each keeps its default (content and "
        "transitions 27, adaptive 3, threshold 12, histogram 0.05, hash 0.395, transnetv2 0.5).",
    )
    min_scene_len: int = Field(default=15, ge=1, description="Shortest scene in frames.")


class TranscribeOptions(_Model):
    model: str | None = Field(
        default=None, description="faster-whisper model name or path; default from settings."
    )
    language: str | None = Field(default=None, description="ISO code; detected when absent.")


class CaptionOptions(_Model):
    model: str | None = Field(
        default=None,
        description="Image-captioning model (Hugging Face id in the local cache, or a folder); "
        "default from settings.",
    )
    batch_size: int = Field(default=8, ge=1, le=64, description="Keyframes captioned per model call.")
    max_new_tokens: int = Field(default=30, ge=1, le=128, description="Longest caption, in tokens.")


class AnalyzeOptions(_Model):
    """Everything a caller can choose about one analysis job."""

    steps: list[StepName] = Field(default_factory=lambda: list(DEFAULT_STEPS))
    keyframes: KeyframeOptions = Field(default_factory=KeyframeOptions)
    scenes: SceneOptions = Field(default_factory=SceneOptions)
    transcribe: TranscribeOptions = Field(default_factory=TranscribeOptions)
    caption: CaptionOptions = Field(default_factory=CaptionOptions)
    num_storylines: int = Field(
        default=3, ge=1, le=20, description="Storylines to group the scenes into (fewer when fewer scenes)."
    )

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


class WebhookDelivery(_Model):
    """How the webhook for one job event went; a failed delivery never changes the job's status."""

    event_id: str
    type: str = Field(description="The webhook event type, e.g. job.succeeded.")
    status: Literal["delivered", "failed"]
    attempts: int = Field(default=0, ge=0, description="POSTs made for this event, over every try.")
    status_code: int | None = Field(default=None, description="The receiver's last HTTP status, if any.")
    delivered_at: datetime | None = None
    last_error: str | None = None


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
    webhook_deliveries: list[WebhookDelivery] = Field(
        default_factory=list, description="One entry per job event sent to the webhook, oldest first."
    )
    request_fingerprint: str | None = Field(
        default=None, description="Hash of the creating request, to tell a retry from a reused key."
    )
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    version: int = 0
