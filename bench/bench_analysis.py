"""Scene detection and keyframes: reelstep against its anchors, on the same video, in one run.

    .venv/bin/python bench/bench_analysis.py [--minutes 5] [--repeat 3]

The input is Big Buck Bunny's 30 s from ../shared/media, looped to ``--minutes`` and re-encoded as
1280x720 H.264 at 24 fps (made once, cached under bench/out/). Each timing is the median of ``--repeat``
runs, the contenders interleaved so that load from other work on the machine falls on all of them alike.
Absolute times drift on shared machines; the ratios from one run are what to read. See bench/README.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_media import OUT_DIR, SHARED_MEDIA, looped_bbb

SOURCE = SHARED_MEDIA / "big_buck_bunny_0_30.webm"
SCENEDETECT = Path(sys.executable).parent / "scenedetect"
CLI_MIN_SCENE_LEN = "0.6s"
"""PySceneDetect's CLI default; reelstep is given the same length in frames so both apply one rule."""
KEYFRAMES = 8
TOLERANCE_FRAMES = 1

TARGET_VS_ANCHOR_SCENES = 1.3
TARGET_VS_DECODE = 1.3
TARGET_VS_ANCHOR_KEYFRAMES = 3.0


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run_quietly(command: list[str | Path]) -> None:
    subprocess.run(command, check=True, timeout=3600, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def anchor_cuts(video: Path) -> list[int]:
    """The cut frames PySceneDetect's CLI finds, from one untimed run that writes its scene list as CSV."""
    with tempfile.TemporaryDirectory() as folder:
        run_quietly([SCENEDETECT, "-i", video, "-o", folder, "-q", "detect-content", "list-scenes", "-q"])
        table = next(Path(folder).glob("*.csv"))
        rows = list(csv.reader(table.read_text().splitlines()[1:]))
    start = rows[0].index("Start Frame")
    return [int(row[start]) - 1 for row in rows[2:]]  # CSV frames count from 1; the first scene has no cut


def agreement(ours: list[int], theirs: list[int]) -> tuple[int, list[int], list[int]]:
    """(cuts matched within the tolerance, ours unmatched, theirs unmatched), matching greedily in order."""
    unmatched_theirs = list(theirs)
    unmatched_ours: list[int] = []
    for cut in ours:
        near = [other for other in unmatched_theirs if abs(other - cut) <= TOLERANCE_FRAMES]
        if near:
            unmatched_theirs.remove(near[0])
        else:
            unmatched_ours.append(cut)
    return len(ours) - len(unmatched_ours), unmatched_ours, unmatched_theirs


def moviepy_keyframes(video: Path, times: list[float], folder: Path) -> None:
    """The earlier VideoFramer way: moviepy's get_frame per time, Pillow thumbnail to 512 px, JPEG q70.

    ``audio=False`` so the anchor does not pay for opening the soundtrack, which it would never use.
    """
    from moviepy import VideoFileClip
    from PIL import Image

    clip = VideoFileClip(str(video), audio=False)
    try:
        for number, at in enumerate(times, start=1):
            image = Image.fromarray(clip.get_frame(at))
            image.thumbnail((512, 512))
            image.save(folder / f"{number:04d}.jpg", quality=70)
    finally:
        clip.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the test video (default 5)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender; medians reported")
    args = parser.parse_args()
    if not SOURCE.is_file():
        print(f"skipped: {SOURCE} is absent (../shared/media is only beside the project's own checkouts)")
        return 0

    from scenedetect import FrameTimecode

    from reelstep.models import KeyframeOptions, SceneOptions
    from reelstep.steps.keyframes import extract_keyframes, interval_times
    from reelstep.steps.probe import probe_media
    from reelstep.steps.scenes import detect_scenes
    from reelstep.steps.timeline import frame_rate

    print("preparing the input (made once, a couple of minutes; then cached in bench/out/) ...", flush=True)
    video = looped_bbb(args.minutes)
    media = probe_media(video, timeout=60)
    min_scene_len = FrameTimecode(CLI_MIN_SCENE_LEN, frame_rate(media)).frame_num
    scene_options = SceneOptions(detector="content", min_scene_len=min_scene_len)
    times = interval_times(media.duration, KEYFRAMES)
    frames_ours, frames_anchor = OUT_DIR / "frames_reelstep", OUT_DIR / "frames_moviepy"
    load_before = os.getloadavg()[0]
    print(
        f"input: {video.name}: {media.width}x{media.height}, {media.fps} fps, {media.duration:.0f} s, "
        f"{media.frame_count} frames, {media.video_codec}; {os.cpu_count()} CPUs; "
        f"{args.repeat} runs each, medians\n",
        flush=True,
    )

    runs: dict[str, list[float]] = {name: [] for name in ("decode", "cli", "scenes", "moviepy", "keyframes")}
    found: list[int] = []
    for run in range(args.repeat):
        print(f"run {run + 1}/{args.repeat} ...", flush=True)
        runs["decode"].append(timed(lambda: run_quietly(["ffmpeg", "-i", video, "-an", "-f", "null", "-"])))
        runs["cli"].append(
            timed(
                lambda: run_quietly(
                    [SCENEDETECT, "-i", video, "-q", "detect-content", "list-scenes", "-n", "-q"]
                )
            )
        )
        started = time.perf_counter()
        scenes = detect_scenes(video, media, scene_options, timeout=3600)
        runs["scenes"].append(time.perf_counter() - started)
        found = [scene.start_frame for scene in scenes[1:]]
        for folder in (frames_ours, frames_anchor):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        runs["moviepy"].append(timed(lambda: moviepy_keyframes(video, times, frames_anchor)))
        runs["keyframes"].append(
            timed(
                lambda: extract_keyframes(
                    video, media, frames_ours, KeyframeOptions(max_frames=KEYFRAMES), scenes=None, timeout=600
                )
            )
        )
    print("checking cut agreement (one more, untimed, CLI run) ...\n", flush=True)
    expected = anchor_cuts(video)
    matched, extra, missed = agreement(found, expected)

    median = {name: statistics.median(values) for name, values in runs.items()}
    rows = [
        ("scene detection", "scenedetect CLI", median["scenes"], median["cli"], TARGET_VS_ANCHOR_SCENES),
        ("scene detection", "ffmpeg full decode", median["scenes"], median["decode"], 1 / TARGET_VS_DECODE),
        (
            f"keyframes ({KEYFRAMES}, interval)",
            "moviepy get_frame",
            median["keyframes"],
            median["moviepy"],
            TARGET_VS_ANCHOR_KEYFRAMES,
        ),
    ]
    print(
        f"{'work':24} {'anchor':18} {'reelstep':>9} {'anchor':>8} {'anchor/reelstep':>16} {'target':>8}  met"
    )
    for work, anchor, ours, theirs, target in rows:
        ratio = theirs / ours
        print(
            f"{work:24} {anchor:18} {ours:8.2f}s {theirs:7.2f}s {ratio:15.2f}x {'>=':>3}{target:4.2f}x  "
            f"{'yes' if ratio >= target else 'NO'}"
        )
    print(
        f"\n(the decode target: reelstep within {TARGET_VS_DECODE}x the time of decoding alone; "
        f"it took {median['scenes'] / median['decode']:.2f}x)"
    )
    print(
        f"cuts: reelstep {len(found)}, scenedetect CLI {len(expected)}; {matched} agree within "
        f"+-{TOLERANCE_FRAMES} frame; only reelstep: {extra or 'none'}; only CLI: {missed or 'none'} "
        f"(min_scene_len {min_scene_len} frames = CLI default {CLI_MIN_SCENE_LEN})"
    )
    print(
        "all runs (s): "
        + "; ".join(
            f"{name} " + " ".join(f"{value:.2f}" for value in values) for name, values in runs.items()
        )
    )
    print(f"load average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
