"""Decoded video frames as numpy arrays, straight from ffmpeg: every frame in order, or a few by seeking.

ffmpeg decodes, rotates and scales in native code and writes packed raw pixels, so Python never touches a
full-size frame. That is what makes frame-by-frame analysis run at about the speed of decoding alone,
instead of paying for a full-resolution colour conversion and resize per frame in Python.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

import numpy as np
from numpy.typing import NDArray

from reelstep.errors import MediaToolError
from reelstep.media.ffmpeg import binary, last_error_line, run

Frame = NDArray[np.uint8]
"""A packed 8-bit picture, ``(height, width, 3)``."""

_PIPE_BYTES = 1 << 20
"""Pipe capacity asked for, so ffmpeg can run a few small frames ahead of the consumer instead of
stalling on Linux's 64 KiB default; refused silently where the system limit is lower."""


class FrameStream:
    """Every frame of a video's first video stream, decoded by one ffmpeg process, as read-only BGR arrays.

    Use as a context manager and iterate: leaving the block kills ffmpeg if it is still running, so a
    consumer that stops early or raises never leaves a decoder behind. A watchdog kills ffmpeg when
    ``timeout`` seconds pass, and iteration then raises MediaToolError; so does a non-zero exit, with
    ffmpeg's last error line. ``input_args`` go before ``-i`` (decoder options, ``-ss``); ``pre_filter``
    runs before the scaling to ``width`` x ``height``.

    Scaling is nearest-neighbour: it is the cheapest, and for a whole-number downscale it picks exactly the
    pixels OpenCV's INTER_LINEAR resize picks, which is what the analysis this feeds was tuned on.
    ``0:V:0`` skips cover art, and ``-fps_mode passthrough`` emits every decoded frame exactly once, as
    OpenCV reads them, instead of duplicating or dropping frames to a constant rate.
    """

    def __init__(
        self,
        video: Path,
        *,
        width: int,
        height: int,
        timeout: float,
        input_args: Sequence[str] = (),
        pre_filter: str | None = None,
    ) -> None:
        scale = f"scale={width}:{height}:flags=neighbor"
        self._command = [
            binary("ffmpeg"),
            *("-nostdin", "-v", "error", *input_args, "-i", str(video)),
            *("-map", "0:V:0", "-an", "-sn", "-dn"),
            *("-vf", f"{pre_filter},{scale}" if pre_filter else scale),
            *("-fps_mode", "passthrough", "-pix_fmt", "bgr24", "-f", "rawvideo", "pipe:1"),
        ]
        self._shape = (height, width, 3)
        self._frame_bytes = height * width * 3
        self._timeout = timeout
        self._expired = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._watchdog: threading.Timer | None = None

    def __enter__(self) -> FrameStream:
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            self._command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr
        )
        assert self._process.stdout is not None
        with contextlib.suppress(OSError):
            fcntl.fcntl(self._process.stdout.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        self._watchdog = threading.Timer(self._timeout, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()

    def _expire(self) -> None:
        self._expired.set()
        if self._process is not None:
            self._process.kill()

    def __iter__(self) -> Iterator[Frame]:
        if self._process is None or self._process.stdout is None:
            raise RuntimeError("FrameStream must be entered (with ...) before iterating")
        stdout, size, shape = self._process.stdout, self._frame_bytes, self._shape
        while len(chunk := stdout.read(size)) == size:
            yield np.frombuffer(chunk, dtype=np.uint8).reshape(shape)
        self._check_exit()

    def _check_exit(self) -> None:
        """After the last frame: a timeout or a failed ffmpeg becomes MediaToolError."""
        assert self._process is not None and self._stderr is not None
        self._process.wait()
        if self._expired.is_set():
            raise MediaToolError(f"ffmpeg did not finish within {self._timeout:.0f} s")
        if self._process.returncode != 0:
            self._stderr.seek(0)
            message = last_error_line(self._stderr.read().decode("utf-8", "replace"))
            raise MediaToolError(f"ffmpeg failed: {message}")


@dataclass(frozen=True)
class Still:
    """One grabbed frame and when it is shown, in seconds from the start of the video."""

    time: float
    pixels: Frame


_SHOWINFO = re.compile(r"\[showinfo@still(\d+) @ [^]]+\] n:\s*0 pts:\s*-?\d+ pts_time:(-?[0-9.e+-]+)")


def grab_frames(
    video: Path,
    times: Sequence[float],
    *,
    width: int,
    height: int,
    timeout: float,
    references_only: bool = False,
) -> list[Still | None]:
    """The first frame shown at or after each of ``times``, from one ffmpeg process.

    Each time is its own input with an accurate input-side seek: ffmpeg jumps to the keyframe before it
    and decodes only from there, so the cost does not grow with the position in the video, and one
    process for several seeks pays ffmpeg's start-up (tens of milliseconds of library loading) once.
    Frames come back RGB, area-scaled to ``width`` x ``height``, with their true presentation time read
    from ffmpeg's showinfo filter; None for a time with no frame at or after it (past the end).

    ``references_only`` skips decoding frames nothing is predicted from (H.264/HEVC non-reference
    B-frames): far less decoding on the way to the seek point, at the price of landing on the next
    reference frame when the frame at the seek point is one of them.
    """
    input_args = ["-threads", "1", *(["-skip_frame", "noref"] if references_only else [])]
    with tempfile.TemporaryDirectory(prefix="reelstep-frames-") as scratch:
        outputs = [Path(scratch) / f"{index}.rgb" for index in range(len(times))]
        args: list[str | Path] = ["-nostdin", "-hide_banner", "-nostats", "-v", "info"]
        for at in times:
            args += [*input_args, "-ss", f"{max(at, 0.0):.6f}", "-i", video]
        for index, output in enumerate(outputs):
            args += [
                *("-map", f"{index}:V:0", "-frames:v", "1"),
                *("-vf", f"scale={width}:{height}:flags=area,showinfo@still{index}"),
                *("-pix_fmt", "rgb24", "-f", "rawvideo", "-y", output),
            ]
        completed = run("ffmpeg", args, timeout=timeout)
        offsets = {
            int(match[1]): float(match[2])
            for match in _SHOWINFO.finditer(completed.stderr.decode("utf-8", "replace"))
        }
        shape = (height, width, 3)
        stills: list[Still | None] = []
        for index, (at, output) in enumerate(zip(times, outputs, strict=True)):
            pixels = np.fromfile(output, dtype=np.uint8) if output.is_file() else np.empty(0, np.uint8)
            if pixels.size != height * width * 3 or index not in offsets:
                stills.append(None)
            else:
                stills.append(Still(time=max(at, 0.0) + offsets[index], pixels=pixels.reshape(shape)))
        return stills
