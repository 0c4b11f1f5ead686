"""Scene detection: PySceneDetect's own detectors, fed by ffmpeg instead of OpenCV, in parallel chunks.

PySceneDetect's CLI decodes every frame at full size through OpenCV, converts it to BGR at full size and
shrinks it in Python before the detector sees it. Here the work is split in two:

1. Frame scores, in parallel. ffmpeg decodes and shrinks in one native pass to exactly the size
   PySceneDetect's auto-downscale picks and pipes small BGR frames to ``FrameScorer``, which computes
   ContentDetector's score (mean HSV difference to the previous frame) bit for bit. A frame's score
   depends only on it and the frame before, so the timeline is cut into one stretch per core, each
   decoded by its own single-threaded ffmpeg (cheaper per frame than one multi-threaded decoder, and it
   keeps every core busy) that keeps exactly the frames whose timestamps fall in its stretch; the score
   at each seam is recomputed from the frames either side of it.
2. Cuts, sequentially: the scores are replayed through PySceneDetect's unmodified ContentDetector or
   AdaptiveDetector logic (thresholds, min_scene_len filtering, adaptive windows), so the cuts are
   exactly those that detector would report for these scores.

Shrinking uses nearest-neighbour sampling in YUV. For a downscale by a whole factor (1280x720 to 256x144)
OpenCV's INTER_LINEAR samples the very same source pixels, so frames match but for chroma rounding; for
fractional factors scores differ by well under 1 (on a 0-255 scale against a threshold of 27), which
moves a cut only when a frame's score sits right at the threshold. Measured against the alternatives
(bilinear, area, bicubic, converting to BGR before scaling) this was both the closest and the cheapest.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any, Protocol

import cv2
from cv2.typing import MatLike
from scenedetect import AdaptiveDetector, ContentDetector, FrameTimecode
from scenedetect.scene_manager import compute_downscale_factor

from reelstep.errors import MediaToolError, UnsupportedMedia
from reelstep.media.frames import Frame, FrameStream, available_cpus
from reelstep.models import MediaInfo, Scene, SceneOptions
from reelstep.progress import ProgressFn, ignore_progress

DECODER_ARGS = ("-skip_loop_filter", "noref")
"""Skip deblocking on frames nothing else is predicted from (H.264/HEVC non-reference B-frames).

Saves about a tenth of the decode time; the error stays in those frames and, after downscaling, moved no
frame score by more than 0.02 in comparisons against PySceneDetect's own decode (``-skip_loop_filter
all`` saves twice as much but moved scores by up to 1.3, enough to flip a cut near the threshold).
"""
CHUNK_MIN_FRAMES = 600
"""Shortest chunk worth its own ffmpeg: each one also decodes from the keyframe before its start."""
MAX_CHUNKS = 8
PROGRESS_SECONDS = 0.5


class FrameScorer:
    """ContentDetector's frame score with its default weights, bit for bit, at a fraction of the cost.

    The score is the weighted mean of the mean absolute differences of the hue, saturation and value
    planes to the previous frame (edges weigh 0 by default and are not computed). PySceneDetect widens
    both planes to int32 in numpy for each difference; OpenCV's L1 norm gives the same exact integer sum
    about ten times faster, which is most of the detector's own per-frame time.
    """

    WEIGHTS = ContentDetector.DEFAULT_COMPONENT_WEIGHTS

    def __init__(self) -> None:
        self._last: Sequence[MatLike] | None = None

    @staticmethod
    def _distance(left: MatLike, right: MatLike) -> float:
        return float(cv2.norm(left, right, cv2.NORM_L1)) / float(left.shape[0] * left.shape[1])

    def score(self, frame: Frame) -> float:
        """Score of ``frame`` (BGR) against the previous one; 0.0 for the first, as PySceneDetect does."""
        planes = cv2.split(cv2.cvtColor(frame, cv2.COLOR_BGR2HSV))
        last, self._last = self._last, planes
        if last is None:
            return 0.0
        components = ContentDetector.Components(
            delta_hue=self._distance(planes[0], last[0]),
            delta_sat=self._distance(planes[1], last[1]),
            delta_lum=self._distance(planes[2], last[2]),
            delta_edges=0.0,
        )
        weighted = sum(value * weight for value, weight in zip(components, self.WEIGHTS, strict=True))
        return float(weighted / sum(abs(weight) for weight in self.WEIGHTS))


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


class _Detector(Protocol):
    def process_frame(self, timecode: FrameTimecode, frame_img: Any) -> list[FrameTimecode]: ...

    def post_process(self, timecode: FrameTimecode) -> list[FrameTimecode]: ...


def detection_size(width: int, height: int) -> tuple[int, int]:
    """The frame size PySceneDetect's SceneManager analyses by default (auto-downscale of the long side).

    Matching it matters: ContentDetector's scores depend on the resolution it sees (noise, detail).
    """
    factor = compute_downscale_factor(max(width, height))
    if factor <= 1:
        return width, height
    return max(1, round(width / factor)), max(1, round(height / factor))


def frame_rate(media: MediaInfo) -> Fraction:
    """The video's frame rate as an exact fraction (probe rounds 30000/1001 to 29.97003; this restores it)."""
    if media.fps:
        return Fraction(media.fps).limit_denominator(1001)
    if media.frame_count and media.duration > 0:
        return Fraction(media.frame_count / media.duration).limit_denominator(1001)
    raise UnsupportedMedia("video stream has no frame rate")


def _detector(options: SceneOptions) -> _Detector:
    """The detector the options name, configured as PySceneDetect's CLI would be with the same values.

    AdaptiveDetector's threshold is a ratio (default 3.0), not ContentDetector's score threshold (27), so
    ``threshold`` only applies to it when the caller set it explicitly.
    """
    if options.detector == "adaptive":
        if "threshold" in options.model_fields_set:
            return _ReplayAdaptiveDetector(
                adaptive_threshold=options.threshold, min_scene_len=options.min_scene_len
            )
        return _ReplayAdaptiveDetector(min_scene_len=options.min_scene_len)
    return _ReplayContentDetector(threshold=options.threshold, min_scene_len=options.min_scene_len)


def scenes_from_cuts(cuts: list[int], frames: int, rate: Fraction, duration: float) -> list[Scene]:
    """Contiguous scenes between the cut frames; the last one runs to the end of the media.

    ``frames`` is how many frames were decoded; a cut outside (0, frames) cannot start a scene and is
    dropped. Times are frame numbers divided by the frame rate; the last scene's end is stretched to the
    media's duration when that is longer (an audio track outlasting the picture), so every instant of the
    input falls in exactly one scene.
    """
    bounds = [0, *sorted({cut for cut in cuts if 0 < cut < frames}), frames]
    scenes = [
        Scene(
            index=index,
            start=round(float(start / rate), 6),
            end=round(float(end / rate), 6),
            start_frame=start,
            end_frame=end,
        )
        for index, (start, end) in enumerate(pairwise(bounds))
    ]
    last = scenes[-1]
    scenes[-1] = last.model_copy(update={"end": max(last.end, round(duration, 6))})
    return scenes


@dataclass
class _Chunk:
    """One stretch of the timeline, [start, end) in seconds, decoded by its own ffmpeg, and what it saw."""

    start: float | None
    end: float | None
    scores: list[float] = field(default_factory=list)
    first: Frame | None = None
    last: Frame | None = None


def _plan(rate: Fraction, expected: int, chunks: int) -> list[_Chunk]:
    """``chunks`` stretches of about ``expected / chunks`` frames, split half a frame before a frame.

    Each ffmpeg keeps exactly the frames whose timestamps fall in its stretch (``trim`` on the original
    timestamps), so the chunks together hold every frame once, in order, even at variable frame rates.
    """
    seams = [float((round(part * expected / chunks) - Fraction(1, 2)) / rate) for part in range(1, chunks)]
    bounds: list[float | None] = [None, *seams, None]
    return [_Chunk(start, end) for start, end in pairwise(bounds)]


def _score_chunk(
    video: Path,
    chunk: _Chunk,
    *,
    size: tuple[int, int],
    threads: int | None,
    timeout: float,
    abort: threading.Event,
) -> None:
    """Decode ``chunk`` and append each frame's score; stop early (quietly) when ``abort`` is set.

    The chunk's first score lacks the frame before it; ``_stitch`` redoes it from the previous chunk.
    """
    args = [*DECODER_ARGS, *(["-threads", str(threads)] if threads else [])]
    trim = []
    if chunk.start is not None:
        args += ["-ss", f"{chunk.start:.6f}"]
        trim.append(f"start={chunk.start:.6f}")
    if chunk.end is not None:
        trim.append(f"end={chunk.end:.6f}")
    if trim:
        args = ["-copyts", "-start_at_zero", *args]
    scorer = FrameScorer()
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
            chunk.scores.append(scorer.score(frame))
            if chunk.first is None:
                chunk.first = frame
            chunk.last = frame


def _stitch(chunks: list[_Chunk]) -> list[float]:
    """One score per frame of the whole video: the chunks' scores in order, each seam's score recomputed
    from the last frame of one chunk and the first of the next, exactly as one pass would have."""
    used = [chunk for chunk in chunks if chunk.scores]
    scores = list(used[0].scores) if used else []
    for before, after in pairwise(used):
        assert before.last is not None and after.first is not None
        scorer = FrameScorer()
        scorer.score(before.last)
        scores.append(scorer.score(after.first))
        scores.extend(after.scores[1:])
    return scores


def _score_video(
    video: Path,
    *,
    size: tuple[int, int],
    rate: Fraction,
    expected: int,
    chunks: int,
    timeout: float,
    progress: ProgressFn,
) -> list[float]:
    """Every frame's score, decoding ``chunks`` stretches of the video at once."""
    plan = _plan(rate, expected, chunks)
    threads = max(1, available_cpus() // chunks) if chunks > 1 else None
    abort = threading.Event()
    with ThreadPoolExecutor(max_workers=chunks) as pool:
        pending = {
            pool.submit(
                _score_chunk,
                video,
                chunk,
                size=size,
                threads=threads,
                timeout=timeout,
                abort=abort,
            )
            for chunk in plan
        }
        try:
            while pending:
                done, pending = wait(pending, timeout=PROGRESS_SECONDS, return_when=FIRST_EXCEPTION)
                for future in done:
                    future.result()
                scored = sum(len(chunk.scores) for chunk in plan)
                progress(min(0.99, scored / expected), None)
        finally:
            abort.set()
    return _stitch(plan)


def detect_scenes(
    video: Path,
    media: MediaInfo,
    options: SceneOptions,
    *,
    timeout: float,
    progress: ProgressFn = ignore_progress,
) -> list[Scene]:
    """Split ``video`` into shots with PySceneDetect's detector; a video without cuts is one scene.

    Frames are numbered in decode order at the video's frame rate, and ffmpeg applies the display
    rotation, as OpenCV does for PySceneDetect. Raises UnsupportedMedia when there is no video stream
    and MediaToolError when ffmpeg fails or ``timeout`` passes.
    """
    if not media.has_video or not media.width or not media.height:
        raise UnsupportedMedia("input has no video stream to detect scenes in")
    rate = frame_rate(media)
    expected = media.frame_count or max(1, round(media.duration * rate))
    chunks = max(1, min(MAX_CHUNKS, available_cpus(), expected // CHUNK_MIN_FRAMES))
    size = detection_size(media.width, media.height)
    scores = _score_video(
        video, size=size, expected=expected, chunks=chunks, rate=rate, timeout=timeout, progress=progress
    )
    if not scores:
        raise MediaToolError("ffmpeg decoded no video frames")

    detector = _detector(options)
    cuts: list[int] = []
    for index, score in enumerate(scores):
        cuts.extend(int(cut.frame_num) for cut in detector.process_frame(FrameTimecode(index, rate), score))
    cuts.extend(int(cut.frame_num) for cut in detector.post_process(FrameTimecode(len(scores) - 1, rate)))
    found = scenes_from_cuts(cuts, len(scores), rate, media.duration)
    progress(1.0, f"{len(found)} scenes")
    return found
