"""Deep analysis of a long video: the one-pass analysis (single pass and chunked) against the old way, in
one run, with the peak memory of the whole process tree.

    .venv/bin/python bench/bench_deep.py [--minutes 20] [--repeat 1]

The input is Big Buck Bunny's 30 s from ../shared/media looped to ``--minutes`` as 1280x720 H.264 at
24 fps (made once, cached under bench/out/). Contenders, each producing scenes and one 512 px JPEG per
scene (the longest 20), interleaved within each run:

- old way: PySceneDetect's CLI (``detect-content``) for the scenes, then a separate decode for the
  keyframes: moviepy's ``get_frame`` at each scene's middle, Pillow thumbnail, JPEG (the earlier
  VideoFramer way);
- one pass: ``detect_scenes`` (one decode, split over the CPUs, measuring every signal: scores, fades,
  sharpness, colour, motion) then the keyframes it chose, extracted by seeking;
- single pass, one core: one chunk with one decoder, pinned to one CPU (ffmpeg inherits the affinity):
  the serial run that fanning out divides;
- chunked: the timeline in ``--chunk-seconds`` chunks (default: half the video), two at a time, each
  with one decoder in a process of its own (a fresh interpreter, as the local executor's Map runs them),
  then the merge and the keyframes.

Targets: one pass at least 1.5x as fast as the old way; chunked on 2 cores at least 1.6x as fast as the
single pass (one core); the whole tree's peak memory under 1.5 GB. Chunked against one pass is printed
too: whether chunks in processes beat one process's own split of the decode. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from bench_media import OUT_DIR, SHARED_MEDIA, looped_bbb

SOURCE = SHARED_MEDIA / "big_buck_bunny_0_30.webm"
SCENEDETECT = Path(sys.executable).parent / "scenedetect"
KEYFRAMES = 20
TARGET_VS_OLD = 1.5
TARGET_CHUNKED = 1.6
MEMORY_LIMIT_MB = 1536


class TreeMemory:
    """Peak resident memory of this process and all its descendants (ffmpeg, the CLI), sampled from /proc."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _tree_rss() -> int:
        parents: dict[int, int] = {}
        rss: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            parents[int(entry.name)] = int(fields.get("PPid", "0").strip())
            rss[int(entry.name)] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
        tree, frontier = {os.getpid()}, [os.getpid()]
        while frontier:
            parent = frontier.pop()
            children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
            tree.update(children)
            frontier.extend(children)
        return sum(rss.get(pid, 0) for pid in tree)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree_rss())
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def old_way(video: Path, folder: Path) -> int:
    """PySceneDetect's CLI for the scenes, then moviepy frames at the scenes' middles as JPEGs."""
    from moviepy import VideoFileClip
    from PIL import Image

    with tempfile.TemporaryDirectory() as listing:
        subprocess.run(
            [SCENEDETECT, "-i", video, "-o", listing, "-q", "detect-content", "list-scenes", "-q"],
            check=True,
            timeout=7200,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        rows = next(Path(listing).glob("*.csv")).read_text().splitlines()[2:]
    spans = [(float(row.split(",")[3]), float(row.split(",")[6])) for row in rows]
    longest = sorted(sorted(spans, key=lambda span: span[0] - span[1])[:KEYFRAMES])
    clip = VideoFileClip(str(video), audio=False)
    try:
        for number, (start, end) in enumerate(longest, start=1):
            image = Image.fromarray(clip.get_frame((start + end) / 2))
            image.thumbnail((512, 512))
            image.save(folder / f"{number:04d}.jpg", quality=70)
    finally:
        clip.close()
    return len(spans)


def analyse_in_own_process(video: Path, media: Any, spec: Any, options: Any) -> Any:
    """One chunk in a process of its own (imports paid there, as each Map iteration pays them)."""
    from reelstep.steps import chunks
    from reelstep.steps.scenes import detection_size
    from reelstep.steps.timeline import frame_rate

    size, rate = detection_size(media.width, media.height), frame_rate(media)
    return chunks.analyse_chunk(video, media, spec, options, size=size, rate=rate, timeout=7200)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="length of the test video (default 20)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender; medians reported")
    parser.add_argument("--chunk-seconds", type=float, default=None, help="chunk length (default: half)")
    args = parser.parse_args()
    if not SOURCE.is_file():
        print(f"skipped: {SOURCE} is absent (../shared/media is only beside the project's own checkouts)")
        return 0

    from reelstep.models import KeyframeOptions, Scene, SceneOptions
    from reelstep.steps import chunks
    from reelstep.steps.keyframes import extract_keyframes
    from reelstep.steps.probe import probe_media
    from reelstep.steps.scenes import detect_scenes, detection_size, merge_scenes
    from reelstep.steps.timeline import frame_rate, plan_chunks

    print(f"preparing the input ({args.minutes:g} min; made once, then cached in bench/out/) ...", flush=True)
    video = looped_bbb(args.minutes)
    media = probe_media(video, timeout=120)
    assert media.width and media.height
    options = SceneOptions()
    keyframe_options = KeyframeOptions(mode="scene", max_frames=KEYFRAMES)
    size, rate = detection_size(media.width, media.height), frame_rate(media)
    chunk_seconds = args.chunk_seconds or media.duration / 2 + 1
    out = OUT_DIR / "deep"

    def keyframes_of(scenes: list[Scene], name: str) -> None:
        folder = out / name
        shutil.rmtree(folder, ignore_errors=True)
        extract_keyframes(video, media, folder, keyframe_options, scenes=scenes, timeout=3600)

    def one_pass() -> None:
        keyframes_of(detect_scenes(video, media, options, timeout=7200), "one-pass")

    def single_pass_one_core() -> None:
        (spec,) = [spec.model_copy(update={"decoders": 1}) for spec in plan_chunks(media, chunk_seconds=None)]
        everywhere = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(everywhere)})
        try:
            analysis = chunks.analyse_chunk(video, media, spec, options, size=size, rate=rate, timeout=7200)
            keyframes_of(merge_scenes([analysis], media, options), "single")
        finally:
            os.sched_setaffinity(0, everywhere)

    def chunked() -> None:
        plan = plan_chunks(media, chunk_seconds=chunk_seconds, parallel=2, cpus=2)
        with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
            analyses = list(
                pool.map(analyse_in_own_process, repeat(video), repeat(media), plan, repeat(options))
            )
        keyframes_of(merge_scenes(analyses, media, options), "chunked")

    def old() -> None:
        folder = out / "old"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        old_way(video, folder)

    contenders = {
        "old way": old,
        "one pass": one_pass,
        "single pass, one core": single_pass_one_core,
        "chunked": chunked,
    }
    print(
        f"input: {video.name}: {media.width}x{media.height}, {media.fps} fps, {media.duration:.0f} s, "
        f"{media.frame_count} frames; {os.cpu_count()} CPUs; chunks of {chunk_seconds:.0f} s; "
        f"load {os.getloadavg()[0]:.2f}\n",
        flush=True,
    )
    runs: dict[str, list[float]] = {name: [] for name in contenders}
    with TreeMemory() as memory:
        for run in range(args.repeat):
            for name, action in contenders.items():
                print(f"run {run + 1}/{args.repeat}: {name} ...", flush=True)
                runs[name].append(timed(action))
    median = {name: statistics.median(values) for name, values in runs.items()}
    print(f"\n{'contender':22} {'seconds':>8}")
    for name, seconds in median.items():
        print(f"{name:22} {seconds:8.2f}")
    rows = [
        ("one pass vs old way", median["old way"] / median["one pass"], TARGET_VS_OLD),
        (
            "chunked vs single pass, one core",
            median["single pass, one core"] / median["chunked"],
            TARGET_CHUNKED,
        ),
        ("chunked vs one pass", median["one pass"] / median["chunked"], None),
    ]
    print(f"\n{'ratio':34} {'value':>7} {'target':>8}  met")
    for label, ratio, target in rows:
        verdict = f"{'>=':>3}{target:4.2f}x  {'yes' if ratio >= target else 'NO'}" if target else f"{'-':>8}"
        print(f"{label:34} {ratio:6.2f}x {verdict}")
    peak_mb = memory.peak / 1024**2
    print(
        f"peak memory (this process and every child, sampled): {peak_mb:.0f} MB, target under "
        f"{MEMORY_LIMIT_MB} MB: {'yes' if peak_mb < MEMORY_LIMIT_MB else 'NO'}"
    )
    print(f"load average (1 min) after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
