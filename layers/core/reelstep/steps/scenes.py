"""Scene detection: PySceneDetect's detectors (and others) replayed over the signals of one ffmpeg decode.

PySceneDetect's CLI decodes every frame at full size through OpenCV, converts it to BGR at full size and
shrinks it in Python before the detector sees it. Here ffmpeg decodes and shrinks in one native pass to
exactly the size PySceneDetect's auto-downscale picks, the per-frame signals are measured on those small
frames (``steps.signals``, in parallel stretches), and the detector runs over the signals
(``steps.detectors``): for ContentDetector and AdaptiveDetector the cuts are exactly those the detector
would report for these scores. The same pass yields each scene's visual features and keyframe choice
(``steps.visual``). Long videos are analysed in chunks (``steps.chunks``), merged into the same result.

Shrinking uses nearest-neighbour sampling in YUV. For a downscale by a whole factor (1280x720 to 256x144)
OpenCV's INTER_LINEAR samples the very same source pixels, so frames match but for chroma rounding; for
fractional factors scores differ by well under 1 (on a 0-255 scale against a threshold of 27), which
moves a cut only when a frame's score sits right at the threshold. Measured against the alternatives
(bilinear, area, bicubic, converting to BGR before scaling) this was both the closest and the cheapest.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scenedetect.scene_manager import compute_downscale_factor

from reelstep.models import MediaInfo, Scene, SceneOptions
from reelstep.progress import ProgressFn, ignore_progress
from reelstep.steps import chunks as chunking
from reelstep.steps.detectors import find_cuts
from reelstep.steps.signals import Signals
from reelstep.steps.timeline import frame_rate, plan_chunks
from reelstep.steps.visual import with_visuals


def detection_size(width: int, height: int) -> tuple[int, int]:
    """The frame size PySceneDetect's SceneManager analyses by default (auto-downscale of the long side).

    Matching it matters: ContentDetector's scores depend on the resolution it sees (noise, detail).
    """
    factor = compute_downscale_factor(max(width, height))
    if factor <= 1:
        return width, height
    return max(1, round(width / factor)), max(1, round(height / factor))


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


def scenes_from_signals(
    signals: Signals,
    probabilities: NDArray[np.float64] | None,
    media: MediaInfo,
    options: SceneOptions,
) -> list[Scene]:
    """The scenes the options' detector finds in the whole video's signals, with their visual features."""
    rate = frame_rate(media)
    cuts = find_cuts(signals, rate, options, probabilities)
    return with_visuals(scenes_from_cuts(cuts, signals.frames, rate, media.duration), signals, rate)


def detect_scenes(
    video: Path,
    media: MediaInfo,
    options: SceneOptions,
    *,
    timeout: float,
    chunk_seconds: float | None = None,
    transnet_device: str = "auto",
    progress: ProgressFn = ignore_progress,
) -> list[Scene]:
    """Split ``video`` into shots in this process; a video without cuts is one scene.

    One decode (split over the CPUs) unless ``chunk_seconds`` asks for chunks, which are analysed one
    after another and merged as the state machine's Map and merge would. Frames are numbered in decode
    order at the video's frame rate, and ffmpeg applies the display rotation, as OpenCV does for
    PySceneDetect. Raises UnsupportedMedia when there is no video stream, MediaToolError when ffmpeg
    fails or ``timeout`` passes, and ModelUnavailable when the detector's model cannot load.
    """
    size = detection_size(*chunking.require_video(media))
    rate = frame_rate(media)
    plan = plan_chunks(media, chunk_seconds=chunk_seconds)
    analyses: list[chunking.ChunkAnalysis] = []
    for spec in plan:

        def report(fraction: float, message: str | None, done: int = spec.index) -> None:
            progress(min(0.99, (done + fraction) / len(plan)), message)

        analyses.append(
            chunking.analyse_chunk(
                video,
                media,
                spec,
                options,
                size=size,
                rate=rate,
                timeout=timeout,
                transnet_device=transnet_device,
                progress=report,
            )
        )
    found = merge_scenes(analyses, media, options, transnet_device=transnet_device)
    progress(1.0, f"{len(found)} scenes")
    return found


def merge_scenes(
    analyses: Sequence[chunking.ChunkAnalysis],
    media: MediaInfo,
    options: SceneOptions,
    *,
    transnet_device: str = "auto",
) -> list[Scene]:
    """The scenes of the whole video from its chunks' analyses: what one pass over it would give."""
    signals, probabilities = chunking.merge(analyses, options, transnet_device=transnet_device)
    return scenes_from_signals(signals, probabilities, media, options)
