"""What the analysis steps find in a video: media facts, scenes, keyframes, transcript.

These models are both the artifacts that steps store between states and the parts of ``result.json``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator


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


class AudioFeatures(_Model):
    """How one scene sounds; reelstep/steps/audio_features.py defines each measure."""

    rms: float | None = Field(
        default=None,
        ge=0,
        description="Mean RMS level of its 64 ms frames (1.0 = full scale); None past the end of the audio.",
    )
    rms_max: float | None = Field(default=None, ge=0, description="Loudest frame's RMS level.")
    spectral_centroid: float | None = Field(
        default=None, ge=0, description="Mean spectral centroid of its audible frames in Hz; None if silent."
    )
    zero_crossing_rate: float | None = Field(
        default=None, ge=0, le=1, description="Mean share of sign changes per sample in its audible frames."
    )
    tempo: float | None = Field(
        default=None, gt=0, description="Beats per minute; None when too short, silent or without a beat."
    )
    tempo_confidence: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Normalised autocorrelation of the onset envelope at the beat period (1 = periodic).",
    )


class SceneAudio(_Model):
    """One entry of the audio features step's artifact (audio_features.json)."""

    scene_index: int = Field(ge=0)
    audio: AudioFeatures


class SceneVisual(_Model):
    """How one scene looks, from the analysis pass over every one of its frames (at detection size)."""

    histogram: list[float] = Field(
        description="Mean colour histogram: 8 bins each of red, green and blue (24 values, dark to light), "
        "each channel summing to 1."
    )
    motion: float = Field(
        ge=0, le=1, description="Motion energy: mean absolute brightness change between its frames (0-1)."
    )
    brightness: float = Field(ge=0, le=1, description="Mean pixel intensity (0 black, 1 white).")
    keyframe_time: float = Field(
        ge=0,
        description="The frame that best represents the scene (sharp, closest to its mean colours); scene "
        "keyframes are taken here.",
    )


def scene_id(index: int) -> str:
    """The stable id of the scene at ``index``: 'scene-1' is the first scene (index 0)."""
    return f"scene-{index + 1}"


class Scene(_Model):
    """One shot: [start, end) in seconds and the frames it spans (end_frame exclusive)."""

    index: int = Field(ge=0)
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    start_frame: int = Field(ge=0)
    end_frame: int = Field(ge=0)
    caption: str | None = Field(
        default=None, description="What its representative keyframe shows, when captions ran."
    )
    audio: AudioFeatures | None = Field(default=None, description="How it sounds, when audio features ran.")
    visual: SceneVisual | None = Field(default=None, description="How it looks, when scenes were detected.")

    @model_validator(mode="before")
    @classmethod
    def _stored_id_matches(cls, data: Any) -> Any:
        """A stored scene carries its id, which is derived from its index: check it, then drop it."""
        if isinstance(data, dict) and "id" in data:
            data = dict(data)
            given = data.pop("id")
            if isinstance(data.get("index"), int) and given != scene_id(data["index"]):
                raise ValueError(f"scene id {given!r} does not match index {data['index']}")
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def id(self) -> str:
        """Stable id that segments and storylines refer to: 'scene-<index + 1>'."""
        return scene_id(self.index)


class Keyframe(_Model):
    """A still picked from the video, stored as a JPEG beside result.json."""

    time: float = Field(ge=0, description="Seconds from the start of the video.")
    file: str = Field(description="Path relative to result.json, e.g. frames/0001.jpg.")
    width: int
    height: int
    scene_index: int | None = Field(default=None, description="Scene the frame falls in, if scenes ran.")
    sharpness: float | None = Field(default=None, description="Variance of the Laplacian; higher is sharper.")
    caption: str | None = Field(
        default=None, description="What the frame shows, when captions ran and it represents a scene."
    )


class Word(_Model):
    start: float
    end: float
    word: str
    probability: float = Field(ge=0, le=1)


class Segment(_Model):
    start: float
    end: float
    text: str
    scene_id: str | None = Field(
        default=None, description="The scene it is spoken in (e.g. scene-2), if any."
    )
    start_in_scene: float | None = Field(default=None, description="Seconds from the start of its scene.")
    end_in_scene: float | None = Field(default=None, description="Seconds from the start of its scene.")
    words: list[Word] = Field(default_factory=list)


class Transcript(_Model):
    language: str
    language_probability: float | None = None
    text: str
    model: str | None = Field(default=None, description="The Whisper model that produced it.")
    segments: list[Segment] = Field(default_factory=list)


class FrameCaption(_Model):
    """The caption of one keyframe that represents its scene (or the video, without scenes)."""

    file: str = Field(description="The keyframe's path relative to result.json.")
    time: float = Field(ge=0)
    scene_index: int | None = None
    caption: str
    duplicate_of: str | None = Field(
        default=None, description="The near-identical keyframe whose caption this one reuses."
    )


class Captions(_Model):
    """The caption step's artifact (captions.json)."""

    model: str = Field(description="The captioning model that wrote them.")
    frames: list[FrameCaption] = Field(default_factory=list)


class StorylineScene(_Model):
    scene_id: str = Field(description="The id of a scene, e.g. scene-3.")
    relevance: float = Field(
        ge=0, le=1, description="Cosine similarity of the scene to its storyline's centroid (1 = typical)."
    )


class Storyline(_Model):
    """Scenes that belong together, in time order, even when other scenes come between them."""

    id: str = Field(description="storyline-1, storyline-2, ... in order of their first scene.")
    name: str = Field(description="Its most telling words, or 'Visual sequence N' when nothing is said.")
    description: str
    scenes: list[StorylineScene]
    duration: float = Field(ge=0, description="Seconds: the sum of its scenes' lengths.")
    start: float = Field(ge=0, description="Start of its first scene, in seconds.")
    end: float = Field(ge=0, description="End of its last scene, in seconds.")


StorylineSignal = Literal["transcript", "caption", "visual"]


class Storylines(_Model):
    """The storylines step's artifact (storylines.json)."""

    signals: list[StorylineSignal] = Field(description="What the scenes were grouped by.")
    model: str | None = Field(default=None, description="The text-embedding model, when any text was used.")
    storylines: list[Storyline] = Field(default_factory=list)
