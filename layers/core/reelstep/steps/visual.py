"""Per-scene visual features and each scene's keyframe choice, from the one decode's per-frame signals.

Which frame stands for a scene is decided here, from every frame of the scene as the analysis pass saw
it; the keyframe step then only seeks to that time to write the still at its own size (extraction, not a
second analysis decode).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from reelstep.models import Scene, SceneVisual
from reelstep.steps.signals import HISTOGRAM_BINS, Signals

EDGE_FRACTION = 0.1
"""The first and last tenth of a scene are not keyframe candidates: fades and motion blur sit there."""
SHARP_FRACTION = 0.5
"""Candidates must be at least this sharp relative to the scene's sharpest: no blurred or faded frames."""
CLOSE_ENOUGH = 0.02
"""Histogram distances (L1 per channel) this close to the best count as a tie, which sharpness breaks."""
DECIMALS = 4


def _normalised(histogram: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each channel's bins summing to 1 (a mean of normalised histograms already does, up to rounding)."""
    channels = histogram.reshape(3, HISTOGRAM_BINS)
    totals = channels.sum(axis=1, keepdims=True)
    normalised: NDArray[np.float64] = np.divide(
        channels, totals, out=np.zeros_like(channels), where=totals > 0
    ).ravel()
    return normalised


def keyframe_index(signals: Signals, start: int, end: int, mean: NDArray[np.float64]) -> int:
    """The frame in [start, end) that best represents it: away from its edges, sharp, and the closest in
    colour to the scene's mean histogram, the sharper winning among near ties."""
    margin = int((end - start) * EDGE_FRACTION)
    low, high = start + margin, max(start + margin + 1, end - margin)
    sharpness = signals.scalars["sharpness"][low:high]
    sharp = np.flatnonzero(sharpness >= SHARP_FRACTION * float(sharpness.max()))
    distance = np.abs(signals.histogram[low:high][sharp] - mean).sum(axis=1) / 3.0
    near = sharp[distance <= float(distance.min()) + CLOSE_ENOUGH]
    return low + int(near[np.argmax(sharpness[near])])


def describe(signals: Signals, start: int, end: int, rate: Fraction) -> SceneVisual | None:
    """The visual summary of frames [start, end); None when the pass saw none of them."""
    end = min(end, signals.frames)
    if end <= start:
        return None
    mean = _normalised(signals.histogram[start:end].astype(np.float64).mean(axis=0))
    motion = signals.scalars["motion"][start + 1 : end]
    pick = keyframe_index(signals, start, end, mean)
    return SceneVisual(
        histogram=[round(float(value), DECIMALS) for value in mean],
        motion=round(float(motion.mean()) / 255.0, DECIMALS) if motion.size else 0.0,
        brightness=round(float(signals.scalars["brightness"][start:end].mean()) / 255.0, DECIMALS),
        keyframe_time=round(float(pick / rate), 6),
    )


def with_visuals(scenes: Sequence[Scene], signals: Signals, rate: Fraction) -> list[Scene]:
    """``scenes`` with their ``visual`` filled in from the signals of their frames."""
    return [
        scene.model_copy(update={"visual": describe(signals, scene.start_frame, scene.end_frame, rate)})
        for scene in scenes
    ]
