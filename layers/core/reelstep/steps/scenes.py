"""Scene detection: PySceneDetect's own detectors, fed by ffmpeg instead of OpenCV.

PySceneDetect's CLI decodes every frame at full size through OpenCV, converts it to BGR at full size and
then shrinks it in Python before the detector sees it. Here ffmpeg decodes and shrinks in one native pass
to exactly the size PySceneDetect's auto-downscale picks, and pipes small BGR frames straight into the
unmodified ContentDetector / AdaptiveDetector. The scores, and so the cuts, are PySceneDetect's; the cost
is close to that of decoding alone.

Shrinking uses nearest-neighbour sampling in YUV. For a downscale by a whole factor (1280x720 to 256x144)
OpenCV's INTER_LINEAR samples exactly the same source pixels, so frames match but for chroma rounding;
for fractional factors frame scores differ by well under 1 (on a 0-255 scale against a threshold of 27),
which moves a cut only when a frame's score sits right at the threshold. Measured against the alternatives
(bilinear, area, bicubic, converting to BGR before scaling) this was both the closest and the cheapest.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from scenedetect import AdaptiveDetector, ContentDetector, FrameTimecode
from scenedetect.scene_manager import compute_downscale_factor

from reelstep.errors import MediaToolError, UnsupportedMedia
from reelstep.media.frames import FrameStream
from reelstep.models import MediaInfo, Scene, SceneOptions
from reelstep.progress import ProgressFn, ignore_progress

PROGRESS_STEPS = 100
"""How many times a run reports progress: often enough for a progress bar, rare enough to cost nothing."""


class _Detector(Protocol):
    def process_frame(self, timecode: FrameTimecode, frame_img: NDArray[np.uint8]) -> list[FrameTimecode]: ...

    def post_process(self, timecode: FrameTimecode) -> list[FrameTimecode]: ...


def detection_size(width: int, height: int) -> tuple[int, int]:
    """The frame size PySceneDetect's SceneManager analyses by default (auto-downscale of the long side).

    Matching it matters: ContentDetector's scores depend on the resolution it sees (edge kernel, noise).
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
            return AdaptiveDetector(adaptive_threshold=options.threshold, min_scene_len=options.min_scene_len)
        return AdaptiveDetector(min_scene_len=options.min_scene_len)
    return ContentDetector(threshold=options.threshold, min_scene_len=options.min_scene_len)


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
        for index, (start, end) in enumerate(zip(bounds, bounds[1:], strict=False))
    ]
    last = scenes[-1]
    scenes[-1] = last.model_copy(update={"end": max(last.end, round(duration, 6))})
    return scenes


def detect_scenes(
    video: Path,
    media: MediaInfo,
    options: SceneOptions,
    *,
    timeout: float,
    progress: ProgressFn = ignore_progress,
) -> list[Scene]:
    """Split ``video`` into shots with PySceneDetect's detector, decoding once through ffmpeg.

    A video without cuts is one scene. Frames are numbered in decode order at the video's frame rate,
    and ffmpeg applies the display rotation, as OpenCV does for PySceneDetect. Raises UnsupportedMedia
    when there is no video stream and MediaToolError when ffmpeg fails or ``timeout`` passes.
    """
    if not media.has_video or not media.width or not media.height:
        raise UnsupportedMedia("input has no video stream to detect scenes in")
    rate = frame_rate(media)
    width, height = detection_size(media.width, media.height)
    expected = media.frame_count or max(1, round(media.duration * rate))
    report_every = max(1, expected // PROGRESS_STEPS)
    detector = _detector(options)
    cuts: list[int] = []
    frames = 0
    with FrameStream(video, width=width, height=height, timeout=timeout) as stream:
        for frames, frame in enumerate(stream, start=1):
            for cut in detector.process_frame(FrameTimecode(frames - 1, rate), frame):
                cuts.append(int(cut.frame_num))
            if frames % report_every == 0:
                progress(min(frames / expected, 0.99), None)
    if frames == 0:
        raise MediaToolError("ffmpeg decoded no video frames")
    cuts.extend(int(cut.frame_num) for cut in detector.post_process(FrameTimecode(frames - 1, rate)))
    scenes = scenes_from_cuts(cuts, frames, rate, media.duration)
    progress(1.0, f"{len(scenes)} scenes")
    return scenes
