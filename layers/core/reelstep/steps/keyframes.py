"""Keyframes: a few stills per video, as JPEGs, picked on a time grid or one per scene.

Which frame stands for a scene is chosen by the analysis pass that detected the scenes (the sharp frame
closest to the scene's mean colours, ``Scene.visual.keyframe_time``, see ``steps.visual``); this step only
extracts the chosen frames at their JPEG size. That is extraction, not analysis: nothing here looks at
frames to decide, and nothing decodes the whole video a second time.

Every still comes from its own input-side seek (``ffmpeg -ss T -i VIDEO -frames:v 1``): ffmpeg jumps to the
keyframe before T and decodes only from there, scaled down in the same pass, so the cost is part of a GOP
of decoding per still however long the video is, never the whole video. That decoding is nearly all the
cost, so three things cut it:

- non-reference frames (most B-frames) on the way to T are not decoded at all; the still is then the
  first reference frame at or after T, which is T itself or at most a frame or two later, and its true
  time is read back from ffmpeg, so ``Keyframe.time`` is exact. A seek landing further away is redone
  fully frame-accurately;
- several seeks share one ffmpeg process (one start-up, each input its own single-threaded decoder);
- such processes run side by side, one per CPU (two on a small machine).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from reelstep.errors import MediaToolError, UnsupportedMedia
from reelstep.media.cpus import available_cpus
from reelstep.media.frames import Frame, Still, grab_frames
from reelstep.models import Keyframe, KeyframeOptions, MediaInfo, Scene
from reelstep.progress import ProgressFn, ignore_progress
from reelstep.steps.timeline import frame_rate

INTERVAL_RULE: tuple[tuple[float, float], ...] = ((30.0, 5.0), (60.0, 10.0), (math.inf, 20.0))
"""(longest duration, seconds between frames): the VideoFramer rule this step keeps."""

MAX_PARALLEL_SEEKS = 4
"""ffmpeg processes at once, at most one per CPU: each decodes single-threaded."""
SEEKS_PER_PROCESS = 4
"""Seeks sharing one ffmpeg process: fewer start-ups, but every open decoder holds its reference frames."""
MAX_DRIFT_FRAMES = 2
"""How far a reference-frames-only seek may land from the frame asked for before it is redone exactly."""
FRAMES_DIR = "frames"


def interval_step(duration: float) -> float:
    """Seconds between stills under the rule: 5 s up to 30 s of video, 10 s up to 60 s, 20 s beyond."""
    return next(step for longest, step in INTERVAL_RULE if duration <= longest)


def interval_times(duration: float, max_frames: int) -> list[float]:
    """When to take interval stills: the centres of equal slices of the whole video.

    The slice count is what the rule asks for (one per started ``interval_step``), capped at
    ``max_frames``; when the cap bites, the capped count is still spread over the whole video rather than
    covering only its start. Centres keep every still half a slice away from t=0 (often a black or
    fading-in frame) and from the end, so no time is ever at or past ``duration``.
    """
    if duration <= 0 or max_frames < 1:
        return []
    count = min(max_frames, max(1, math.ceil(duration / interval_step(duration) - 1e-9)))
    return [(index + 0.5) * duration / count for index in range(count)]


def thumbnail_size(width: int, height: int, max_size: int) -> tuple[int, int]:
    """Fit ``width`` x ``height`` within ``max_size`` on its long side, keeping the aspect; never enlarge."""
    scale = min(1.0, max_size / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def sharpness(rgb: Frame) -> float:
    """Variance of the Laplacian of the luma: high for crisp edges, low for blur, fades and flat frames."""
    luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    laplacian = luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:] - 4.0 * luma[1:-1, 1:-1]
    return float(laplacian.var()) if laplacian.size else 0.0


def scene_at(scenes: Sequence[Scene], at: float) -> int | None:
    """Index of the scene whose [start, end) holds ``at``; the last scene also owns its end instant."""
    for scene in scenes:
        if scene.start <= at < scene.end:
            return scene.index
    if scenes and at >= scenes[-1].start:
        return scenes[-1].index
    return None


def _longest_in_order(scenes: Sequence[Scene], limit: int) -> list[Scene]:
    """The ``limit`` longest scenes (earlier first among equals), back in time order."""
    longest = sorted(scenes, key=lambda scene: (-(scene.end - scene.start), scene.start))[:limit]
    return sorted(longest, key=lambda scene: scene.start)


def scene_keyframe_time(scene: Scene) -> float:
    """Where ``scene``'s still is taken: the analysis pass's pick, else (scenes from elsewhere) the middle."""
    return scene.visual.keyframe_time if scene.visual is not None else (scene.start + scene.end) / 2


@dataclass(frozen=True)
class _Pick:
    """A grabbed still that may become a keyframe: its exact time, RGB pixels and sharpness."""

    time: float
    rgb: Frame
    sharpness: float


class _Seeker:
    """Single-frame grabs at one output size, by frame number, in batches, under one deadline."""

    def __init__(self, video: Path, media: MediaInfo, options: KeyframeOptions, deadline: float) -> None:
        assert media.width and media.height
        self.video = video
        self.rate = frame_rate(media)
        self.last_frame = (media.frame_count - 1) if media.frame_count else None
        self.width, self.height = thumbnail_size(media.width, media.height, options.max_size)
        self.deadline = deadline

    def frame_index(self, at: float) -> int:
        """The frame on screen at ``at`` seconds (clamped to the last frame when the count is known)."""
        index = max(0, math.floor(at * self.rate + Fraction(1, 1000)))
        return min(index, self.last_frame) if self.last_frame is not None else index

    def grab(self, indices: Sequence[int], *, references_only: bool) -> list[Still | None]:
        """Frames ``indices`` from one ffmpeg process.

        ffmpeg's accurate seek keeps frames *starting* at or after the seek point, so each seek aims half a
        frame before the frame's own start: that frame, not the one after it.
        """
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise MediaToolError("keyframe extraction did not finish within the time allowed")
        seeks = [max(0.0, float((index - Fraction(1, 2)) / self.rate)) for index in indices]
        return grab_frames(
            self.video,
            seeks,
            width=self.width,
            height=self.height,
            timeout=left,
            references_only=references_only,
        )

    def lands_on(self, still: Still | None, index: int) -> bool:
        """Whether ``still`` is frame ``index`` or close enough after it to stand for it."""
        return still is not None and abs(round(still.time * self.rate) - index) <= MAX_DRIFT_FRAMES


def _batches(indices: list[int], workers: int) -> list[list[int]]:
    """Consecutive runs of ``indices``: at least one per worker, at most SEEKS_PER_PROCESS each."""
    if not indices:
        return []
    count = max(min(workers, len(indices)), math.ceil(len(indices) / SEEKS_PER_PROCESS))
    bounds = [round(part * len(indices) / count) for part in range(count + 1)]
    return [indices[low:high] for low, high in pairwise(bounds) if high > low]


def _grab_all(seeker: _Seeker, times: Sequence[float], progress: ProgressFn) -> list[_Pick | None]:
    """A still for each time (None past the end of the picture), one ffmpeg process per CPU at a time.

    Seeks first skip non-reference frames, which lands on the frame asked for or one a frame or so later
    and costs far less decoding; the few that land further away (or nowhere: streams whose ordinary
    frames are all non-reference) are grabbed again exactly. Times on the same frame share one seek.
    Progress is reported from this thread, so listeners need not be thread-safe.
    """
    indices = [seeker.frame_index(at) for at in times]
    unique = sorted(set(indices))
    found: dict[int, Still | None] = {}
    workers = max(1, min(MAX_PARALLEL_SEEKS, available_cpus()))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for references_only in (True, False):
            wanted = [index for index in unique if not seeker.lands_on(found.get(index), index)]
            futures = {
                pool.submit(seeker.grab, batch, references_only=references_only): batch
                for batch in _batches(wanted, workers)
            }
            for future in as_completed(futures):
                found.update(zip(futures[future], future.result(), strict=True))
                progress(0.95 * sum(seeker.lands_on(found.get(i), i) for i in unique) / len(unique), None)
    stills = {index: still for index, still in found.items() if still is not None}
    picks = {
        index: _Pick(time=round(still.time, 6), rgb=still.pixels, sharpness=sharpness(still.pixels))
        for index, still in stills.items()
    }
    return [picks.get(index) for index in indices]


def _write_jpeg(rgb: NDArray[np.uint8], path: Path, quality: int) -> None:
    Image.fromarray(rgb).save(path, format="JPEG", quality=quality)


def extract_keyframes(
    video: Path,
    media: MediaInfo,
    out_dir: Path,
    options: KeyframeOptions,
    *,
    scenes: Sequence[Scene] | None,
    timeout: float,
    progress: ProgressFn = ignore_progress,
) -> list[Keyframe]:
    """Write up to ``options.max_frames`` JPEGs to ``out_dir/frames/0001.jpg``... and describe them.

    Interval mode takes stills at ``interval_times``. Scene mode takes each scene's chosen frame
    (``scene_keyframe_time``), keeping the longest scenes when there are more than ``max_frames``;
    without scenes it falls back to interval times. Stills are at most ``max_size`` px on the long side (never
    enlarged) and numbered in time order. Raises UnsupportedMedia without a video stream, MediaToolError
    when ffmpeg fails or ``timeout`` passes.
    """
    if not media.has_video or not media.width or not media.height:
        raise UnsupportedMedia("input has no video stream to take keyframes from")
    seeker = _Seeker(video, media, options, deadline=time.monotonic() + timeout)
    if options.mode == "scene" and scenes:
        times = [scene_keyframe_time(scene) for scene in _longest_in_order(scenes, options.max_frames)]
    else:
        times = interval_times(media.duration, options.max_frames)
    picks = _grab_all(seeker, times, progress)

    frames_dir = out_dir / FRAMES_DIR
    frames_dir.mkdir(parents=True, exist_ok=True)
    keyframes: list[Keyframe] = []
    for still in sorted((pick for pick in picks if pick is not None), key=lambda pick: pick.time):
        name = f"{FRAMES_DIR}/{len(keyframes) + 1:04d}.jpg"
        _write_jpeg(still.rgb, out_dir / name, options.jpeg_quality)
        keyframes.append(
            Keyframe(
                time=still.time,
                file=name,
                width=int(still.rgb.shape[1]),
                height=int(still.rgb.shape[0]),
                scene_index=scene_at(scenes, still.time) if scenes else None,
                sharpness=round(still.sharpness, 3),
            )
        )
    progress(1.0, f"{len(keyframes)} keyframes")
    return keyframes
