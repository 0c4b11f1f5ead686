"""Chunked analysis: the timeline in chunks analysed independently, then merged into exactly one pass.

A chunk is a stretch of frames decoded once (``steps.signals``) into per-frame signals; it is stored as a
``ChunkAnalysis`` (arrays packed as base64, so a ten-minute chunk is a few megabytes of JSON). ``merge``
puts the chunks back together: rows concatenated, each border's previous-frame values redone from the
last frame of one chunk and the first of the next, and TransNetV2's border windows predicted from the
thumbnails each chunk keeps at its edges. Every detector then runs once over the whole sequence, so a
cut near (or on) a chunk border is found exactly where a single pass finds it.

Chunks are whole multiples of 50 frames (TransNetV2's window step), split half a frame before a frame so
that trimming on timestamps gives each frame to exactly one chunk.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from reelstep.errors import MediaToolError, UnsupportedMedia
from reelstep.media.cpus import available_cpus
from reelstep.models import MediaInfo, SceneOptions
from reelstep.models.analysis import ChunkSpec
from reelstep.progress import ProgressFn, ignore_progress
from reelstep.steps import transnet
from reelstep.steps.detectors import EXTRAS
from reelstep.steps.signals import (
    SCALARS,
    Extra,
    Pass,
    Signals,
    Stretch,
    decode_signals,
    split_stretch,
    stitch,
)
from reelstep.steps.timeline import expected_frames

STRETCH_MIN_FRAMES = 600
"""Shortest stretch worth its own ffmpeg: each one also decodes from the keyframe before its start."""
MAX_STRETCHES = 8


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PackedArray(_Model):
    """A numpy array as JSON: dtype, shape and the raw bytes in base64 (exact, and compact)."""

    dtype: str
    shape: list[int]
    data: str

    @classmethod
    def pack(cls, array: NDArray[Any]) -> PackedArray:
        contiguous = np.ascontiguousarray(array)
        return cls(
            dtype=contiguous.dtype.str,
            shape=list(contiguous.shape),
            data=base64.b64encode(contiguous.tobytes()).decode("ascii"),
        )

    def unpack(self) -> NDArray[Any]:
        raw = base64.b64decode(self.data)
        return np.frombuffer(raw, dtype=np.dtype(self.dtype)).reshape(self.shape).copy()


class ChunkAnalysis(_Model):
    """What one chunk's decode found: its per-frame signals and what the merge needs at its borders."""

    index: int = Field(ge=0)
    start_frame: int = Field(ge=0)
    frames: int = Field(ge=0)
    scalars: dict[str, PackedArray]
    histogram: PackedArray
    extras: dict[Extra, PackedArray] = Field(default_factory=dict)
    first: PackedArray | None = Field(default=None, description="First frame (BGR, detection size).")
    last: PackedArray | None = Field(default=None, description="Last frame (BGR, detection size).")
    probabilities: PackedArray | None = Field(default=None, description="TransNetV2's, NaN at borders.")
    head: PackedArray | None = Field(default=None, description="TransNetV2 thumbnails at the start.")
    tail: PackedArray | None = Field(default=None, description="TransNetV2 thumbnails at the end.")

    def as_pass(self) -> Pass:
        signals = Signals(
            scalars={name: self.scalars[name].unpack() for name in SCALARS},
            histogram=self.histogram.unpack(),
            extras={name: packed.unpack() for name, packed in self.extras.items()},
        )
        return Pass(
            signals,
            self.first.unpack() if self.first else None,
            self.last.unpack() if self.last else None,
        )


def extras_for(options: SceneOptions) -> frozenset[Extra]:
    return EXTRAS.get(options.detector, frozenset())


def analyse_chunk(
    video: Path,
    media: MediaInfo,
    spec: ChunkSpec,
    options: SceneOptions,
    *,
    size: tuple[int, int],
    rate: Fraction,
    timeout: float,
    transnet_device: str = "auto",
    progress: ProgressFn = ignore_progress,
) -> ChunkAnalysis:
    """Decode the chunk's frames once, in one stretch per decoder, and measure every signal on the way.

    Raises ModelUnavailable (before decoding) when TransNetV2 is asked for and cannot load, and
    MediaToolError when ffmpeg fails or ``timeout`` passes.
    """
    extras = extras_for(options)
    model = transnet.load_model(transnet_device) if Extra.THUMBNAILS in extras else None
    expected = expected_frames(media, rate)
    end_frame = spec.end_frame if spec.end_frame is not None else max(spec.start_frame + 1, expected)
    decoders = spec.decoders or available_cpus()
    parts = max(1, min(MAX_STRETCHES, decoders, (end_frame - spec.start_frame) // STRETCH_MIN_FRAMES))
    stretches = split_stretch(spec.start_frame, end_frame, Stretch(spec.start, spec.end), rate, parts)
    found = decode_signals(
        video,
        stretches,
        size=size,
        expected=end_frame - spec.start_frame,
        extras=extras,
        timeout=timeout,
        threads=max(1, decoders // parts) if spec.decoders else None,
        progress=progress,
    )
    signals = found.signals
    analysis = ChunkAnalysis(
        index=spec.index,
        start_frame=spec.start_frame,
        frames=signals.frames,
        scalars={name: PackedArray.pack(signals.scalars[name]) for name in SCALARS},
        histogram=PackedArray.pack(signals.histogram),
        extras={name: PackedArray.pack(values) for name, values in signals.extras.items()},
        first=PackedArray.pack(found.first) if found.first is not None else None,
        last=PackedArray.pack(found.last) if found.last is not None else None,
    )
    if model is not None and signals.thumbnails is not None:
        thumbnails = signals.thumbnails
        probabilities = transnet.predict_chunk(
            model,
            thumbnails,
            first=spec.start_frame,
            at_start=spec.index == 0,
            at_end=spec.index == spec.count - 1,
        )
        analysis.probabilities = PackedArray.pack(probabilities)
        analysis.head = PackedArray.pack(thumbnails[: transnet.EDGE_FRAMES])
        analysis.tail = PackedArray.pack(thumbnails[-transnet.EDGE_FRAMES :])
    progress(1.0, None)
    return analysis


def merge(
    chunks: Sequence[ChunkAnalysis], options: SceneOptions, *, transnet_device: str = "auto"
) -> tuple[Signals, NDArray[np.float64] | None]:
    """The signals of the whole video from its chunks (in any order), exactly as one pass gives them,
    and TransNetV2's probabilities when that detector ran."""
    ordered = sorted(chunks, key=lambda chunk: chunk.index)
    if [chunk.index for chunk in ordered] != list(range(len(ordered))):
        raise MediaToolError(f"chunk analyses are missing: got {[chunk.index for chunk in ordered]}")
    whole = stitch([chunk.as_pass() for chunk in ordered], extras_for(options))
    if not whole.signals.frames:
        raise MediaToolError("ffmpeg decoded no video frames")
    if options.detector != "transnetv2":
        return whole.signals, None
    probabilities = np.concatenate(
        [chunk.probabilities.unpack() for chunk in ordered if chunk.probabilities is not None]
    )
    edges: dict[int, NDArray[np.uint8]] = {}
    offset = 0
    for chunk in ordered:
        if chunk.head is not None and chunk.tail is not None:
            head, tail = chunk.head.unpack(), chunk.tail.unpack()
            edges.update({offset + index: frame for index, frame in enumerate(head)})
            edges.update(
                {offset + chunk.frames - len(tail) + index: frame for index, frame in enumerate(tail)}
            )
        offset += chunk.frames
    if np.isnan(probabilities).any():
        probabilities = transnet.fill_borders(transnet.load_model(transnet_device), probabilities, edges)
    return whole.signals, probabilities


def require_video(media: MediaInfo) -> tuple[int, int]:
    if not media.has_video or not media.width or not media.height:
        raise UnsupportedMedia("input has no video stream to detect scenes in")
    return media.width, media.height
