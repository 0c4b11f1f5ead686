"""One decode, every frame consumer: the per-frame signals that scene detection, keyframe choice and
per-scene visual features are all computed from.

ffmpeg decodes and shrinks each frame once, to the size PySceneDetect analyses (see ``detection_size``),
and ``FrameAnalyzer`` measures everything any consumer needs from that small BGR frame while it is in
hand:

- ``content``: ContentDetector's score against the previous frame, bit for bit (mean HSV difference);
- ``motion``: motion energy, the mean absolute change of the brightness (HSV value) plane against the
  previous frame, which is also ContentDetector's luma component and so costs nothing extra;
- ``brightness``: the mean of every channel of every pixel, ThresholdDetector's fade measure;
- ``sharpness``: variance of the Laplacian of the brightness plane (blur, fades and flat frames are low);
- ``histogram``: 8 bins per R, G and B channel, each channel normalised to sum to 1;
- on request, what other detectors need: HistogramDetector's luma-histogram correlation and HashDetector's
  perceptual-hash distance to the previous frame, and TransNetV2's 48x27 RGB thumbnails.

A frame's signals depend only on it and the frame before it, so the timeline can be cut into stretches
decoded side by side, each by its own ffmpeg; the values at a seam are redone from the last frame of
one stretch and the first of the next (``stitch``), which gives exactly what one pass would have.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
from cv2.typing import MatLike
from numpy.typing import NDArray
from scenedetect import ContentDetector, HashDetector, HistogramDetector

from reelstep.media.frames import Frame, FrameStream
from reelstep.progress import ProgressFn, ignore_progress
from reelstep.steps.timeline import seam_time

DECODER_ARGS = ("-skip_loop_filter", "noref")
"""Skip deblocking on frames nothing else is predicted from (H.264/HEVC non-reference B-frames).

Saves about a tenth of the decode time; the error stays in those frames and, after downscaling, moved no
frame score by more than 0.02 in comparisons against PySceneDetect's own decode (``-skip_loop_filter
all`` saves twice as much but moved scores by up to 1.3, enough to flip a cut near the threshold).
"""
HISTOGRAM_BINS = 8
"""Bins per colour channel: enough to tell scenes apart by colour, small enough to store for every frame."""
THUMBNAIL_SIZE = (48, 27)
"""TransNetV2's input size (width, height)."""
PROGRESS_SECONDS = 0.5


class Extra(StrEnum):
    """Signals only some detectors need, computed only when asked for."""

    LUMA_CORRELATION = "luma_correlation"
    HASH_DISTANCE = "hash_distance"
    THUMBNAILS = "thumbnails"


SCALARS = ("content", "motion", "brightness", "sharpness")
"""The per-frame numbers every pass computes, in ``FrameAnalyzer.values`` order."""
_HASH = HashDetector()
_LUMA_BINS = HistogramDetector()._bins


@dataclass
class Signals:
    """Per-frame signals of consecutive frames: one row per frame, in decode order."""

    scalars: dict[str, NDArray[np.float64]]
    histogram: NDArray[np.float32]
    extras: dict[Extra, NDArray[np.float64]] = field(default_factory=dict)
    thumbnails: NDArray[np.uint8] | None = None

    @property
    def frames(self) -> int:
        return int(self.histogram.shape[0])

    @staticmethod
    def concatenate(parts: Sequence[Signals]) -> Signals:
        """The rows of ``parts`` one after another (the seams are the caller's to fix)."""
        used = [part for part in parts if part.frames] or list(parts[:1])
        thumbnails = [part.thumbnails for part in used if part.thumbnails is not None]
        return Signals(
            scalars={name: np.concatenate([part.scalars[name] for part in used]) for name in SCALARS},
            histogram=np.concatenate([part.histogram for part in used]),
            extras={name: np.concatenate([part.extras[name] for part in used]) for name in used[0].extras},
            thumbnails=np.concatenate(thumbnails) if thumbnails else None,
        )


class FrameAnalyzer:
    """Everything measured on one small BGR frame, with what the next frame is compared against.

    The content score reproduces ContentDetector with its default weights exactly: PySceneDetect widens
    planes to int32 in numpy for each difference, OpenCV's L1 norm gives the same integer sum about ten
    times faster. The luma correlation and the hash are PySceneDetect's own functions.
    """

    WEIGHTS = ContentDetector.DEFAULT_COMPONENT_WEIGHTS

    def __init__(self, extras: Iterable[Extra] = ()) -> None:
        self.extras = frozenset(extras)
        self._planes: Sequence[MatLike] | None = None
        self._luma: MatLike | None = None
        self._hash: NDArray[np.bool_] | None = None

    @staticmethod
    def _distance(left: MatLike, right: MatLike) -> float:
        return float(cv2.norm(left, right, cv2.NORM_L1)) / float(left.shape[0] * left.shape[1])

    def _content(self, planes: Sequence[MatLike], last: Sequence[MatLike] | None) -> tuple[float, float]:
        """(ContentDetector's score, the brightness-plane difference), 0.0 for a first frame."""
        if last is None:
            return 0.0, 0.0
        components = ContentDetector.Components(
            delta_hue=self._distance(planes[0], last[0]),
            delta_sat=self._distance(planes[1], last[1]),
            delta_lum=self._distance(planes[2], last[2]),
            delta_edges=0.0,
        )
        weighted = sum(value * weight for value, weight in zip(components, self.WEIGHTS, strict=True))
        return float(weighted / sum(abs(weight) for weight in self.WEIGHTS)), components.delta_lum

    def values(self, frame: Frame) -> tuple[tuple[float, ...], NDArray[np.float32], dict[Extra, float]]:
        """(``SCALARS`` in order, the colour histogram, the requested extras) of ``frame``."""
        planes = cv2.split(cv2.cvtColor(frame, cv2.COLOR_BGR2HSV))
        score, motion = self._content(planes, self._planes)
        self._planes = planes
        brightness = sum(cv2.mean(frame)[:3]) / 3.0
        _, deviation = cv2.meanStdDev(cv2.Laplacian(planes[2], cv2.CV_16S))
        sharpness = float(deviation[0, 0]) ** 2
        counts = [cv2.calcHist([frame], [channel], None, [HISTOGRAM_BINS], [0, 256]) for channel in (2, 1, 0)]
        histogram = (np.concatenate(counts).ravel() / float(frame.shape[0] * frame.shape[1])).astype(
            np.float32
        )
        extras: dict[Extra, float] = {}
        if Extra.LUMA_CORRELATION in self.extras:
            luma = HistogramDetector.calculate_histogram(frame, bins=_LUMA_BINS)
            last_luma, self._luma = self._luma, luma
            extras[Extra.LUMA_CORRELATION] = (
                1.0 if last_luma is None else float(cv2.compareHist(last_luma, luma, cv2.HISTCMP_CORREL))
            )
        if Extra.HASH_DISTANCE in self.extras:
            hashed = HashDetector.hash_frame(frame, _HASH._size, _HASH._factor)
            last_hash, self._hash = self._hash, hashed
            extras[Extra.HASH_DISTANCE] = (
                0.0
                if last_hash is None
                else float(np.count_nonzero(hashed.flatten() != last_hash.flatten())) / _HASH._size_sq
            )
        return (score, motion, brightness, sharpness), histogram, extras

    def seam(self, before: Frame, after: Frame) -> tuple[tuple[float, ...], dict[Extra, float]]:
        """The previous-frame-dependent values of ``after`` when ``before`` is the frame decoded before it."""
        analyzer = FrameAnalyzer(self.extras)
        analyzer.values(before)
        scalars, _, extras = analyzer.values(after)
        return scalars, extras


def thumbnail(frame: Frame) -> NDArray[np.uint8]:
    """TransNetV2's input: the frame at 48x27, RGB, area-averaged."""
    small = cv2.resize(frame, THUMBNAIL_SIZE, interpolation=cv2.INTER_AREA)
    return np.asarray(cv2.cvtColor(small, cv2.COLOR_BGR2RGB), dtype=np.uint8)


@dataclass
class _Collector:
    """Rows of one stretch as they are measured, plus its first and last frames for stitching."""

    extras: frozenset[Extra]
    rows: list[tuple[float, ...]] = field(default_factory=list)
    histograms: list[NDArray[np.float32]] = field(default_factory=list)
    extra_rows: dict[Extra, list[float]] = field(default_factory=dict)
    thumbnails: list[NDArray[np.uint8]] = field(default_factory=list)
    first: Frame | None = None
    last: Frame | None = None

    def add(self, analyzer: FrameAnalyzer, frame: Frame) -> None:
        scalars, histogram, extras = analyzer.values(frame)
        self.rows.append(scalars)
        self.histograms.append(histogram)
        for name, value in extras.items():
            self.extra_rows.setdefault(name, []).append(value)
        if Extra.THUMBNAILS in self.extras:
            self.thumbnails.append(thumbnail(frame))
        if self.first is None:
            self.first = frame
        self.last = frame

    def signals(self) -> Signals:
        table = np.asarray(self.rows, dtype=np.float64).reshape(len(self.rows), len(SCALARS))
        return Signals(
            scalars={name: table[:, column].copy() for column, name in enumerate(SCALARS)},
            histogram=(
                np.stack(self.histograms)
                if self.histograms
                else np.zeros((0, 3 * HISTOGRAM_BINS), dtype=np.float32)
            ),
            extras={
                name: np.asarray(self.extra_rows.get(name, []), dtype=np.float64)
                for name in self.extras
                if name is not Extra.THUMBNAILS
            },
            thumbnails=(
                (np.stack(self.thumbnails) if self.thumbnails else np.zeros((0, 27, 48, 3), np.uint8))
                if Extra.THUMBNAILS in self.extras
                else None
            ),
        )


@dataclass
class Pass:
    """What one decode of a stretch of the timeline found: its signals and its outermost frames."""

    signals: Signals
    first: Frame | None
    last: Frame | None


def stitch(passes: Sequence[Pass], extras: Iterable[Extra]) -> Pass:
    """Consecutive passes as one: rows in order, each seam's first row redone against the frame before it.

    The first row of a pass was measured with no frame before it; here it gets the values a single pass
    would have given it, so the result equals one decode of the whole stretch, frame for frame.
    """
    used = [part for part in passes if part.signals.frames]
    if not used:
        return passes[0] if passes else Pass(_Collector(frozenset(extras)).signals(), None, None)
    analyzer = FrameAnalyzer(extras)
    for before, after in pairwise(used):
        assert before.last is not None and after.first is not None
        scalars, seam_extras = analyzer.seam(before.last, after.first)
        for column, name in enumerate(SCALARS):
            if name in ("content", "motion"):
                after.signals.scalars[name][0] = scalars[column]
        for name, value in seam_extras.items():
            after.signals.extras[name][0] = value
    return Pass(Signals.concatenate([part.signals for part in used]), used[0].first, used[-1].last)


@dataclass(frozen=True)
class Stretch:
    """[start, end) in seconds of the original timestamps; None for the video's own start or end."""

    start: float | None
    end: float | None


def split_stretch(
    first_frame: int, end_frame: int | None, whole: Stretch, rate: Fraction, parts: int
) -> list[Stretch]:
    """``whole`` (frames ``first_frame`` to ``end_frame``) cut into ``parts`` stretches of about equal frames.

    Each ffmpeg keeps exactly the frames whose timestamps fall in its stretch (``trim`` on the original
    timestamps), so the stretches together hold every frame once, in order, even at variable frame rates.
    """
    if parts <= 1 or end_frame is None:
        return [whole]
    length = end_frame - first_frame
    seams = [seam_time(first_frame + round(part * length / parts), rate) for part in range(1, parts)]
    bounds: list[float | None] = [whole.start, *seams, whole.end]
    return [Stretch(start, end) for start, end in pairwise(bounds)]


def _decode(
    video: Path,
    stretch: Stretch,
    collector: _Collector,
    *,
    size: tuple[int, int],
    threads: int | None,
    timeout: float,
    abort: threading.Event,
) -> None:
    """Decode ``stretch`` and measure each frame; stop early (quietly) when ``abort`` is set."""
    args = [*DECODER_ARGS, *(["-threads", str(threads)] if threads else [])]
    trim = []
    if stretch.start is not None:
        args += ["-ss", f"{max(0.0, stretch.start):.6f}"]
        trim.append(f"start={max(0.0, stretch.start):.6f}")
    if stretch.end is not None:
        trim.append(f"end={stretch.end:.6f}")
    if trim:
        args = ["-copyts", "-start_at_zero", *args]
    analyzer = FrameAnalyzer(collector.extras)
    width, height = size
    with FrameStream(
        video,
        width=width,
        height=height,
        timeout=timeout,
        input_args=args,
        pre_filter=f"trim={':'.join(trim)}" if trim else None,
    ) as stream:
        for frame in stream:
            if abort.is_set():
                return
            collector.add(analyzer, frame)


def decode_signals(
    video: Path,
    stretches: Sequence[Stretch],
    *,
    size: tuple[int, int],
    expected: int,
    extras: Iterable[Extra] = (),
    timeout: float,
    threads: int | None = None,
    progress: ProgressFn = ignore_progress,
) -> Pass:
    """Every frame's signals over ``stretches`` (consecutive), each decoded by its own ffmpeg at once.

    ``threads`` is each decoder's thread count. By default, with one stretch ffmpeg picks its own
    decoder threads; with several, each decoder is single-threaded (cheaper per frame than one
    frame-threaded decoder, and it keeps every core busy).
    Raises MediaToolError when an ffmpeg fails or ``timeout`` passes.
    """
    wanted = frozenset(extras)
    collectors = [_Collector(wanted) for _ in stretches]
    if threads is None and len(stretches) > 1:
        threads = 1
    abort = threading.Event()
    with ThreadPoolExecutor(max_workers=len(stretches)) as pool:
        pending = {
            pool.submit(
                _decode,
                video,
                stretch,
                collector,
                size=size,
                threads=threads,
                timeout=timeout,
                abort=abort,
            )
            for stretch, collector in zip(stretches, collectors, strict=True)
        }
        try:
            while pending:
                done, pending = wait(pending, timeout=PROGRESS_SECONDS, return_when=FIRST_EXCEPTION)
                for future in done:
                    future.result()
                measured = sum(len(collector.rows) for collector in collectors)
                progress(min(0.99, measured / max(1, expected)), None)
        finally:
            abort.set()
    return stitch(
        [Pass(collector.signals(), collector.first, collector.last) for collector in collectors], wanted
    )
