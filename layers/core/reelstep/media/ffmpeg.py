"""Run ffmpeg and ffprobe with a timeout, and turn their failures into named errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reelstep.errors import MediaToolError


def binary(name: str) -> str:
    """Locate ffmpeg/ffprobe on PATH (the Lambda layer puts them in /opt/bin, which is on PATH)."""
    found = shutil.which(name)
    if found is None:
        raise MediaToolError(f"{name} is not installed or not on PATH")
    return found


def last_error_line(stderr: str) -> str:
    """The most telling line of a tool's stderr: its last non-empty one."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else "no error output"


def run(tool: str, args: Sequence[str | Path], *, timeout: float) -> subprocess.CompletedProcess[bytes]:
    """Run ``tool`` with ``args``; raise MediaToolError on a non-zero exit or when ``timeout`` passes."""
    command = [binary(tool), *map(str, args)]
    try:
        completed = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise MediaToolError(f"{tool} did not finish within {timeout:.0f} s") from exc
    if completed.returncode != 0:
        message = last_error_line(completed.stderr.decode("utf-8", "replace"))
        raise MediaToolError(f"{tool} failed: {message}")
    return completed


def ffprobe_json(path: Path, *, timeout: float) -> dict[str, Any]:
    """ffprobe's description of ``path``: format and streams, as parsed JSON."""
    completed = run(
        "ffprobe",
        ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", path],
        timeout=timeout,
    )
    parsed: dict[str, Any] = json.loads(completed.stdout or b"{}")
    return parsed
