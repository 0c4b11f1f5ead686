"""Cuts from per-frame signals: PySceneDetect's detectors replayed, a fade- and dissolve-aware combination,
and TransNetV2's predictions thresholded.

Every detector here works on the signals one decode produced (``steps.signals``), never on pixels, so the
detector can be chosen (and, in the bench, all of them compared) without decoding again, and a chunked
analysis gives the cuts of a single pass: the signals are concatenated first and each detector runs once
over the whole sequence.

- ``content`` and ``adaptive`` feed the scores to PySceneDetect's unmodified ContentDetector and
  AdaptiveDetector (thresholds, flash filter, adaptive windows), so the cuts are exactly theirs.
- ``threshold`` feeds each frame's mean intensity to the unmodified ThresholdDetector (fades to and from
  black), through the StatsManager the detector reads precomputed metrics from.
- ``histogram`` and ``hash`` reproduce HistogramDetector's and HashDetector's rule (a few lines each; the
  values themselves are PySceneDetect's, computed in the pass).
- ``transitions`` (``find_transitions``) finds hard cuts, fades through black and dissolves together.
- ``transnetv2`` thresholds the network's per-frame transition probabilities.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from scenedetect import AdaptiveDetector, ContentDetector, FrameTimecode, StatsManager, ThresholdDetector

from reelstep.models import SceneOptions
from reelstep.models.job import SceneDetectorName
from reelstep.steps.signals import Extra, Signals

DEFAULT_THRESHOLDS: dict[SceneDetectorName, float] = {
    "content": 27.0,
    "adaptive": 3.0,
    "histogram": 0.05,
    "hash": 0.395,
    "threshold": 12.0,
    "transitions": 27.0,
    "transnetv2": 0.5,
}
"""Each detector's threshold when the options name none: PySceneDetect's CLI defaults (``detect-hist``
0.05, ``detect-hash`` 0.395), TransNetV2's 0.5; ``transitions`` uses ContentDetector's for hard cuts."""

EXTRAS: dict[SceneDetectorName, frozenset[Extra]] = {
    "histogram": frozenset({Extra.LUMA_CORRELATION}),
    "hash": frozenset({Extra.HASH_DISTANCE}),
    "transnetv2": frozenset({Extra.THUMBNAILS}),
}

GRADUAL_MIN_SCORE = 2.5
"""A frame changing by at least this much (ContentDetector's scale, 0-255) may be part of a dissolve..."""
GRADUAL_OVER_BASELINE = 1.8
"""...and by this many times the shot's own usual change (its 20th percentile over BASELINE_SECONDS)."""
BASELINE_SECONDS = 1.0
GRADUAL_GAP_FRAMES = 2
"""Runs of change this close together are one transition (a dissolve's change is uneven frame to frame)."""
GRADUAL_MIN_FRAMES = 4
"""A run of change shorter than this is a cut or a flash, not a dissolve."""
GRADUAL_MAX_SECONDS = 3.0
"""Longer runs of change are motion, not a transition."""
STEADY_SECONDS = 0.4
"""The shots either side of a dissolve are steady for this long: at most STEADY_SHARE of the dissolve's
mean change per frame (fast motion changes as much before and after, so it is no dissolve)."""
STEADY_SHARE = 0.5
GRADUAL_MIN_HISTOGRAM_CHANGE = 0.6
"""How far apart (L1 per channel, 0-2) the frames either side of a dissolve must be in colour."""
GRADUAL_MIN_TOTAL_SCORE = 20.0
"""The summed change over a dissolve, at least most of what one hard cut changes."""
MOTION_NEIGHBOURS = 3
"""A hard cut stands out from the frames around it; when the median change of this many frames either
side is over MOTION_SHARE of the cut's own, and the colours hardly change, the camera (or the subject) is
moving fast: no cut."""
MOTION_SHARE = 0.5
MOTION_MAX_COLOUR_CHANGE = 0.5
"""Colours change less than this (L1 per channel, 0-2) from frame to frame in a fast pan; at a cut
between different shots they change more (1 or so in the bench's set)."""
FLASH_SECONDS = 0.25
"""A cut whose picture returns to what it was within this long was a flash, not a cut."""
FLASH_SAME_HISTOGRAM = 0.12
FLASH_BRIGHTNESS = 40.0
"""How far (mean intensity, 0-255) a flash's frames jump from the picture around them."""
"""How close (L1 per channel) the frames before and after a flash are in colour."""
FADE_THRESHOLD = 12.0
DARKEST_MARGIN = 0.5
"""Frames within this much (mean intensity) of a fade's darkest count as equally dark."""
"""ThresholdDetector's default: mean intensity below which a frame counts as faded to black."""


class _Detector(Protocol):
    def process_frame(self, timecode: FrameTimecode, frame_img: Any) -> list[FrameTimecode]: ...

    def post_process(self, timecode: FrameTimecode) -> list[FrameTimecode]: ...


class _ScoreReplay:
    """Mixed in before a PySceneDetect detector: ``process_frame`` takes a precomputed score, not pixels.

    The detector's own ``process_frame`` runs unchanged (threshold, min_scene_len filter, adaptive
    window); only the step that would compute the score from the image returns the score given instead.
    """

    def _calculate_frame_score(self, timecode: FrameTimecode, frame_img: float) -> float:
        return frame_img


class _ReplayContentDetector(_ScoreReplay, ContentDetector):  # type: ignore[misc]
    """ContentDetector fed with scores."""


class _ReplayAdaptiveDetector(_ScoreReplay, AdaptiveDetector):  # type: ignore[misc]
    """AdaptiveDetector fed with scores."""


def threshold_of(options: SceneOptions) -> float:
    return options.threshold if options.threshold is not None else DEFAULT_THRESHOLDS[options.detector]


def _replay(detector: _Detector, values: NDArray[np.float64], rate: Fraction) -> list[int]:
    """Feed one value per frame through ``detector`` as PySceneDetect's SceneManager would."""
    cuts: list[int] = []
    for index, value in enumerate(values.tolist()):
        cuts.extend(int(cut.frame_num) for cut in detector.process_frame(FrameTimecode(index, rate), value))
    if len(values):
        cuts.extend(int(cut.frame_num) for cut in detector.post_process(FrameTimecode(len(values) - 1, rate)))
    return cuts


def content_cuts(scores: NDArray[np.float64], rate: Fraction, threshold: float, min_len: int) -> list[int]:
    return _replay(_ReplayContentDetector(threshold=threshold, min_scene_len=min_len), scores, rate)


def adaptive_cuts(scores: NDArray[np.float64], rate: Fraction, threshold: float, min_len: int) -> list[int]:
    return _replay(_ReplayAdaptiveDetector(adaptive_threshold=threshold, min_scene_len=min_len), scores, rate)


def threshold_cuts(
    brightness: NDArray[np.float64], rate: Fraction, threshold: float, min_len: int
) -> list[int]:
    """ThresholdDetector's fades, reading each frame's mean intensity from a StatsManager."""
    detector = ThresholdDetector(threshold=threshold, min_scene_len=min_len)
    stats = StatsManager()
    for index, value in enumerate(brightness.tolist()):
        stats.set_metrics(index, {ThresholdDetector.THRESHOLD_VALUE_KEY: value})
    detector.stats_manager = stats
    return _replay(detector, brightness, rate)


def _rule_cuts(over: NDArray[np.bool_], min_len: int) -> list[int]:
    """HistogramDetector's and HashDetector's rule: a frame over the threshold cuts, unless the last cut
    (or the first frame) is fewer than ``min_len`` frames back."""
    cuts: list[int] = []
    last = 0
    for index in np.flatnonzero(over).tolist():
        if index > 0 and index - last >= min_len:
            cuts.append(index)
            last = index
    return cuts


def histogram_cuts(correlation: NDArray[np.float64], threshold: float, min_len: int) -> list[int]:
    """HistogramDetector: a cut where the luma histograms' correlation falls to 1 - threshold or below."""
    return _rule_cuts(correlation <= max(0.0, min(1.0, 1.0 - threshold)), min_len)


def hash_cuts(distance: NDArray[np.float64], threshold: float, min_len: int) -> list[int]:
    """HashDetector: a cut where the perceptual hashes differ in at least ``threshold`` of their bits."""
    return _rule_cuts(distance >= threshold, min_len)


def probability_cuts(probabilities: NDArray[np.float64], threshold: float, min_len: int) -> list[int]:
    """TransNetV2: each run of frames over ``threshold`` is one transition, cut after its middle frame.

    For a hard cut the network marks the last frame of the old shot, so the cut (the first frame of the
    new one) is the frame after; for a dissolve the run spans the blend and the cut falls at its centre.
    """
    over = np.concatenate([[False], probabilities > threshold, [False]])
    edges = np.flatnonzero(np.diff(over.astype(np.int8)))
    cuts: list[int] = []
    for first, end in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        cut = (first + end - 1) // 2 + 1
        if cut < len(probabilities) and (not cuts or cut - cuts[-1] >= min_len) and cut >= min_len:
            cuts.append(cut)
    return cuts


def _colour_change(histogram: NDArray[np.float32], before: int, after: int) -> float:
    """L1 distance of two frames' colour histograms, per channel (0 same colours, 2 nothing shared)."""
    return float(np.abs(histogram[before] - histogram[after]).sum()) / 3.0


def _is_flash(signals: Signals, cut: int, span: int) -> bool:
    """Whether ``cut`` is a flash inside one shot: within ``span`` frames the picture jumps in brightness
    and comes back to colours from just before it."""
    histogram, brightness = signals.histogram, signals.scalars["brightness"]
    for early in range(max(0, cut - span - 1), cut):
        for late in range(cut, min(len(histogram), cut + span + 1)):
            if _colour_change(histogram, early, late) >= FLASH_SAME_HISTOGRAM or late - early < 2:
                continue
            between = brightness[early + 1 : late]
            if float(np.abs(between - brightness[early]).max()) >= FLASH_BRIGHTNESS:
                return True
    return False


def _is_motion(signals: Signals, cut: int) -> bool:
    """Whether ``cut`` is fast motion rather than a cut: the frames around it change almost as much, and
    the colours on either side of it stay alike (a cut into or out of a busy shot changes them)."""
    scores = signals.scalars["content"]
    around = np.concatenate(
        [scores[max(1, cut - MOTION_NEIGHBOURS) : cut], scores[cut + 1 : cut + 1 + MOTION_NEIGHBOURS]]
    )
    return (
        around.size > 0
        and float(np.median(around)) > MOTION_SHARE * float(scores[cut])
        and _colour_change(signals.histogram, cut - 1, cut) < MOTION_MAX_COLOUR_CHANGE
    )


def _runs(mask: NDArray[np.bool_], gap: int) -> list[tuple[int, int]]:
    """[first, end) of each run of True, runs at most ``gap`` frames apart joined."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8))).tolist()
    runs: list[tuple[int, int]] = []
    for first, end in zip(edges[::2], edges[1::2], strict=True):
        if runs and first - runs[-1][1] <= gap:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((first, end))
    return runs


def _baseline(scores: NDArray[np.float64], frames: int) -> NDArray[np.float64]:
    """Each frame's usual change: the 20th percentile of the scores within ``frames`` either side."""
    padded = np.pad(scores, frames, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * frames + 1)
    baseline: NDArray[np.float64] = np.percentile(windows, 20, axis=1)
    return baseline


def _dissolves(signals: Signals, rate: Fraction) -> list[tuple[int, int, int]]:
    """Twin comparison on the content scores: a run of change well above the shot's usual change, long
    enough to be gradual and short enough not to be motion, between shots that are steady (they change no
    more than usual) and differ in colour. Returns (first, end, cut) for each, the cut in the middle of
    the blend (frames ``first - 1`` to ``end - 1``). Runs that pass through black are fades, left to
    ThresholdDetector."""
    scores = signals.scalars["content"]
    brightness = signals.scalars["brightness"]
    if len(scores) < 2 * GRADUAL_MIN_FRAMES:
        return []
    baseline = _baseline(scores, max(1, round(BASELINE_SECONDS * float(rate))))
    excess = np.maximum(scores - baseline, 0.0)
    elevated = scores >= np.maximum(GRADUAL_MIN_SCORE, GRADUAL_OVER_BASELINE * baseline)
    steady = max(1, round(STEADY_SECONDS * float(rate)))
    longest = GRADUAL_MAX_SECONDS * float(rate)
    found: list[tuple[int, int, int]] = []
    for first, end in _runs(elevated, GRADUAL_GAP_FRAMES):
        if not GRADUAL_MIN_FRAMES <= end - first <= longest or first == 0:
            continue
        run = excess[first:end]
        before, after = excess[max(1, first - steady) : first], excess[end : end + steady]
        if min(before.size, after.size) < (steady + 1) // 2:
            continue
        if max(float(before.mean()), float(after.mean())) > STEADY_SHARE * float(run.mean()):
            continue
        if float(brightness[first - 1 : end].min()) < FADE_THRESHOLD:
            continue
        if float(scores[first:end].sum()) < GRADUAL_MIN_TOTAL_SCORE:
            continue
        if _colour_change(signals.histogram, first - 1, end - 1) < GRADUAL_MIN_HISTOGRAM_CHANGE:
            continue
        found.append((first, end, (first + end - 1) // 2))
    return found


def _splits(signals: Signals, first: int, end: int, cut: int) -> bool:
    """Whether hard cut ``cut`` makes the run [first, end) no dissolve: it opens the run or lies well
    inside it (a cut into a busy shot), or it ends the run and the frames before it are too alike in
    colour to be a blend (motion running into a cut)."""
    if not first <= cut <= end:
        return False
    if cut < end - GRADUAL_GAP_FRAMES:
        return True
    return _colour_change(signals.histogram, first - 1, cut - 1) < GRADUAL_MIN_HISTOGRAM_CHANGE


def _in_fade(brightness: NDArray[np.float64], cut: int, span: int) -> bool:
    """Whether ``cut`` is the steep part of a fade: black within ``span`` frames of it."""
    near = brightness[max(0, cut - span) : cut + span + 1]
    return near.size > 0 and float(near.min()) < FADE_THRESHOLD


def _darkest(brightness: NDArray[np.float64], cut: int) -> int | None:
    """The middle of the darkest frames of the black stretch around ThresholdDetector's ``cut``: where one
    shot has gone and the next has not yet appeared, however unevenly the two fade. None when the black
    is the video's own start (a fade in from black opens it, no shot came before)."""
    low = cut
    while low > 0 and brightness[low - 1] < FADE_THRESHOLD:
        low -= 1
    high = cut
    while high + 1 < len(brightness) and brightness[high + 1] < FADE_THRESHOLD:
        high += 1
    if low == 0:
        return None
    stretch = brightness[low : high + 1]
    darkest = np.flatnonzero(stretch <= float(stretch.min()) + DARKEST_MARGIN)
    return low + int(darkest[len(darkest) // 2])


def find_transitions(signals: Signals, rate: Fraction, threshold: float, min_len: int) -> list[int]:
    """Hard cuts (ContentDetector, less flashes and fast motion), fades through black (ThresholdDetector,
    placed at the darkest frame) and dissolves.

    A hard cut stands out from the frames around it; one that does not (a fast dissolve changes enough
    per frame to trip ContentDetector several frames running) is left to the dissolve, as is one at a
    dissolve's very end (some blends end on a jump); a hard cut anywhere else in a run makes it no
    dissolve. Otherwise, where two kinds find the same transition (within ``min_len`` frames), a hard
    cut wins over a fade and a fade over a dissolve.
    """
    span = max(1, round(FLASH_SECONDS * float(rate)))
    scores, brightness = signals.scalars["content"], signals.scalars["brightness"]
    fades = [
        darkest
        for darkest in (
            _darkest(brightness, cut) for cut in threshold_cuts(brightness, rate, FADE_THRESHOLD, min_len)
        )
        if darkest is not None
    ]
    hard = [
        cut
        for cut in content_cuts(scores, rate, threshold, min_len)
        if not _is_flash(signals, cut, span)
        and not _is_motion(signals, cut)
        and not _in_fade(brightness, cut, span)
    ]
    dissolves = [
        (first, end, cut)
        for first, end, cut in _dissolves(signals, rate)
        if not any(_splits(signals, first, end, other) for other in hard)
    ]
    hard = [cut for cut in hard if not any(first <= cut <= end for first, end, _ in dissolves)]
    kept: list[int] = []
    for group in (hard, fades, [cut for _, _, cut in dissolves]):
        kept.extend(
            cut for cut in group if cut >= min_len and all(abs(cut - other) >= min_len for other in kept)
        )
    return sorted(kept)


def find_cuts(
    signals: Signals, rate: Fraction, options: SceneOptions, probabilities: NDArray[np.float64] | None
) -> list[int]:
    """The cut frames the options' detector finds in ``signals`` (``probabilities`` for TransNetV2)."""
    threshold, min_len = threshold_of(options), options.min_scene_len
    detectors: dict[SceneDetectorName, Callable[[], list[int]]] = {
        "content": lambda: content_cuts(signals.scalars["content"], rate, threshold, min_len),
        "adaptive": lambda: adaptive_cuts(signals.scalars["content"], rate, threshold, min_len),
        "threshold": lambda: threshold_cuts(signals.scalars["brightness"], rate, threshold, min_len),
        "histogram": lambda: histogram_cuts(signals.extras[Extra.LUMA_CORRELATION], threshold, min_len),
        "hash": lambda: hash_cuts(signals.extras[Extra.HASH_DISTANCE], threshold, min_len),
        "transitions": lambda: find_transitions(signals, rate, threshold, min_len),
        "transnetv2": lambda: probability_cuts(_required(probabilities), threshold, min_len),
    }
    return detectors[options.detector]()


def _required(probabilities: NDArray[np.float64] | None) -> NDArray[np.float64]:
    if probabilities is None:
        raise ValueError("the transnetv2 detector needs the network's predictions")
    return probabilities
