"""The whole ``reelstep run`` on a 5-minute 720p video, against its target: under a quarter of the duration.

Run: ``.venv/bin/python bench/bench_pipeline.py [--minutes 5] [--repeat 1]``. Needs ../shared/media.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_media import SHARED_MEDIA, looped_bbb

REELSTEP = Path(sys.executable).parent / "reelstep"


def run_once(video: Path, out: Path) -> tuple[float, dict[str, object]]:
    with tempfile.TemporaryDirectory(prefix="reelstep-bench-") as home:
        env = {**os.environ, "REELSTEP_HOME": home}
        started = time.perf_counter()
        subprocess.run(
            [str(REELSTEP), "run", str(video), "--out", str(out)],
            env=env,
            check=True,
            timeout=1800,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        elapsed = time.perf_counter() - started
    result: dict[str, object] = json.loads((out / "result.json").read_text())
    return elapsed, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    if not SHARED_MEDIA.is_dir():
        print(f"skipped: {SHARED_MEDIA} is absent")
        return 0
    video = looped_bbb(args.minutes)
    duration = args.minutes * 60
    times = []
    result: dict[str, object] = {}
    for index in range(args.repeat):
        elapsed, result = run_once(video, Path(__file__).parent / "out" / f"pipeline-run-{index}")
        times.append(elapsed)
    median = statistics.median(times)
    print(f"reelstep run on {video.name} ({duration:.0f} s of 1280x720 H.264, 24 fps), {args.repeat} run(s)")
    print(f"  wall time (median)   {median:7.1f} s   runs: {', '.join(f'{t:.1f}' for t in times)}")
    print(f"  duration / wall time {duration / median:7.2f}x  (target >= 4.00x)")
    print("  per step (last run):")
    for name, step in result["steps"].items():  # type: ignore[union-attr]
        seconds = step["seconds"]
        print(f"    {name:<11} {step['status']:<9} {seconds if seconds is not None else '-':>8}")
    print(f"  scenes {len(result['scenes'])}, keyframes {len(result['keyframes'])}")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
