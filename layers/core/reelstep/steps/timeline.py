"""Frame numbers, times and chunk plans: the arithmetic of the timeline, light enough for any function.

Kept apart from the analysis itself (which needs OpenCV and PySceneDetect) because the probe task plans
the chunks, and it runs where only the light dependencies are installed.
"""

from __future__ import annotations

import math
from fractions import Fraction

from reelstep.errors import UnsupportedMedia
from reelstep.models import MediaInfo
from reelstep.models.analysis import ChunkSpec

FRAME_GRID = 50
"""Chunks start on multiples of this many frames: TransNetV2's window step, so its windows line up."""


def frame_rate(media: MediaInfo) -> Fraction:
    """The video's frame rate as an exact fraction (probe rounds 30000/1001 to 29.97003; this restores it)."""
    if media.fps:
        return Fraction(media.fps).limit_denominator(1001)
    if media.frame_count and media.duration > 0:
        return Fraction(media.frame_count / media.duration).limit_denominator(1001)
    raise UnsupportedMedia("video stream has no frame rate")


def expected_frames(media: MediaInfo, rate: Fraction) -> int:
    """Frames the video holds: probe's count, else its duration at ``rate`` (at least one)."""
    return media.frame_count or max(1, round(media.duration * rate))


def seam_time(frame: int, rate: Fraction) -> float:
    """Half a frame before ``frame`` starts: a split there keeps that frame on the later side."""
    return float((frame - Fraction(1, 2)) / rate)


def plan_chunks(
    media: MediaInfo, *, chunk_seconds: float | None, parallel: int = 1, cpus: int = 1
) -> list[ChunkSpec]:
    """Chunks of at most ``chunk_seconds`` of video (rounded down to whole FRAME_GRIDs; None: one chunk).

    Frame ranges are exact at a constant frame rate; at a variable one the split still falls between
    frames by timestamp, so every frame is analysed once, by one chunk. ``parallel`` chunks run at once
    sharing ``cpus`` (the local executor; each gets its share of decoders); ``cpus`` 0 means each chunk
    runs where it has its own CPUs (Lambda) and uses them all.
    """
    rate = frame_rate(media)
    expected = expected_frames(media, rate)
    size = expected
    if chunk_seconds is not None:
        size = max(FRAME_GRID, math.floor(chunk_seconds * rate / FRAME_GRID) * FRAME_GRID)
    count = max(1, math.ceil(expected / size))
    decoders = max(1, cpus // max(1, min(parallel, count))) if cpus and count > 1 else 0
    starts = [index * size for index in range(count)]
    return [
        ChunkSpec(
            index=index,
            count=count,
            start=seam_time(first, rate) if index else None,
            end=seam_time(starts[index + 1], rate) if index + 1 < count else None,
            start_frame=first,
            end_frame=starts[index + 1] if index + 1 < count else None,
            decoders=decoders,
        )
        for index, first in enumerate(starts)
    ]
