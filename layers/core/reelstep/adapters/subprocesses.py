"""Child processes with a deadline that take everything they started with them when it passes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def run_bounded(
    command: Sequence[str], *, timeout: float | None, cwd: Path, env: dict[str, str] | None = None
) -> tuple[int | None, bytes, bytes]:
    """Run ``command`` in a session of its own: (exit code, stdout, stderr), exit code None on a timeout.

    On a timeout the whole process group is killed, so nothing it started (ffmpeg, a worker's children)
    outlives it.
    """
    process = subprocess.Popen(
        list(command),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        stdout, stderr = process.communicate()
        return None, stdout, stderr
    except BaseException:
        _kill_group(process)
        process.wait()
        raise
    return process.returncode, stdout, stderr
