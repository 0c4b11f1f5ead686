"""Benchmark inputs, made once from ../shared/media and cached under bench/out/ (git-ignored)."""

from __future__ import annotations

import subprocess
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
SHARED_MEDIA = BENCH_DIR.parent.parent / "shared" / "media"


def looped_bbb(minutes: float) -> Path:
    """Big Buck Bunny's 30 s looped to ``minutes``, as 1280x720 H.264 at 24 fps with AAC sound."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    target = OUT_DIR / f"bbb_{minutes:g}min_720p.mp4"
    if target.is_file():
        return target
    partial = target.with_suffix(".partial.mp4")
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-stream_loop",
            "-1",
            "-i",
            str(SHARED_MEDIA / "big_buck_bunny_0_30.webm"),
            "-t",
            str(minutes * 60),
            "-vf",
            "scale=1280:720,fps=24",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            str(partial),
        ],
        check=True,
        timeout=3600,
    )
    partial.rename(target)
    return target
