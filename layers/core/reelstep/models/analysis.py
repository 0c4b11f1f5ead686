"""How the analysis of the picture is split up: the chunks the state machine's Map fans out over."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ChunkSpec(BaseModel):
    """One item of the analysis Map: which frames a chunk analyses, and with how many decoders."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0)
    count: int = Field(ge=1, description="Chunks in the whole plan.")
    start: float | None = Field(description="Seconds (original timestamps); None from the very start.")
    end: float | None = Field(description="Seconds; None to the very end.")
    start_frame: int = Field(ge=0, description="Planned first frame (exact at a constant frame rate).")
    end_frame: int | None = Field(description="Planned end frame, exclusive; None for the last chunk.")
    decoders: int = Field(
        default=0,
        ge=0,
        description="The CPUs this chunk may use, one single-threaded ffmpeg decoder each; 0: every CPU.",
    )
