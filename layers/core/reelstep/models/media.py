"""What the analysis steps find in a video: media facts, scenes, keyframes, transcript.

These models are both the artifacts that steps store between states and the parts of ``result.json``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MediaInfo(_Model):
    """Facts ffprobe reports about the input, normalised to what the steps need."""

    duration: float = Field(ge=0, description="Seconds.")
    width: int | None = Field(default=None, description="Display width in pixels (rotation applied).")
    height: int | None = Field(default=None, description="Display height in pixels (rotation applied).")
    fps: float | None = Field(default=None, description="Average frames per second of the video stream.")
    frame_count: int | None = Field(
        default=None, description="Frames in the video stream, exact or estimated."
    )
    rotation: int = Field(default=0, description="Display rotation in degrees (0, 90, 180, 270).")
    has_video: bool
    has_audio: bool
    video_codec: str | None = None
    audio_codec: str | None = None
    audio_sample_rate: int | None = None
    audio_channels: int | None = None
    container: str | None = Field(default=None, description="ffprobe's format name.")
    size_bytes: int = Field(ge=0)


class Scene(_Model):
    """One shot: [start, end) in seconds and the frames it spans (end_frame exclusive)."""

    index: int = Field(ge=0)
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    start_frame: int = Field(ge=0)
    end_frame: int = Field(ge=0)


class Keyframe(_Model):
    """A still picked from the video, stored as a JPEG beside result.json."""

    time: float = Field(ge=0, description="Seconds from the start of the video.")
    file: str = Field(description="Path relative to result.json, e.g. frames/0001.jpg.")
    width: int
    height: int
    scene_index: int | None = Field(default=None, description="Scene the frame falls in, if scenes ran.")
    sharpness: float | None = Field(default=None, description="Variance of the Laplacian; higher is sharper.")


class Word(_Model):
    start: float
    end: float
    word: str
    probability: float = Field(ge=0, le=1)


class Segment(_Model):
    start: float
    end: float
    text: str
    scene_index: int | None = None
    start_in_scene: float | None = Field(default=None, description="Seconds from the start of its scene.")
    end_in_scene: float | None = Field(default=None, description="Seconds from the start of its scene.")
    words: list[Word] = Field(default_factory=list)


class Transcript(_Model):
    language: str
    language_probability: float | None = None
    text: str
    model: str | None = Field(default=None, description="The Whisper model that produced it.")
    segments: list[Segment] = Field(default_factory=list)
