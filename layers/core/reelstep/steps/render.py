"""Preview render: the input re-encoded small enough to watch in a browser, subtitles burned in.

The preview is H.264 at most 1280x720 (720x1280 upright; never enlarged) with AAC sound and the
index at the front (``+faststart``) so playback starts before the download ends. The GPU image's
ffmpeg encodes with NVENC; since ffmpeg lists ``h264_nvenc`` wherever it was built with it, GPU or
not, the encoder is proven by a tiny test encode first, and libx264 takes over when that fails.
Scaling and subtitle drawing stay on the CPU: they are cheap next to encoding at these sizes.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from reelstep.errors import MediaToolError, UnsupportedMedia
from reelstep.media.ffmpeg import binary, last_error_line, run
from reelstep.models import MediaInfo
from reelstep.progress import ProgressFn, ignore_progress

MAX_LONG_SIDE = 1280
MAX_SHORT_SIDE = 720
NVENC: Final = "h264_nvenc"
LIBX264: Final = "libx264"
Encoder = Literal["h264_nvenc", "libx264"]
ENCODER_CHECK_SECONDS = 30.0
"""Ceiling for each of the two checks (listing encoders, the test encode): a wedged driver must not
hold the job."""
SUBTITLES_FILE = "subtitles.srt"

_VIDEO_ARGS: dict[str, list[str]] = {
    NVENC: ["-c:v", NVENC, "-preset", "p4", "-rc", "vbr", "-cq", "23", "-b:v", "0"],
    LIBX264: ["-c:v", LIBX264, "-preset", "veryfast", "-crf", "23"],
}


@dataclass(frozen=True)
class RenderedPreview:
    path: Path
    width: int
    height: int
    encoder: str
    subtitles: bool


def preview_size(width: int, height: int) -> tuple[int, int]:
    """Fit ``width`` x ``height`` in 1280 x 720 (either way up) keeping the aspect, never enlarging.

    Both sides come out even, as 4:2:0 H.264 needs.
    """
    scale = min(1.0, MAX_LONG_SIDE / max(width, height), MAX_SHORT_SIDE / min(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def nvenc_usable(*, timeout: float = ENCODER_CHECK_SECONDS) -> bool:
    """True when this ffmpeg has NVENC and a tiny H.264 encode with it succeeds on a real device."""
    try:
        listed = run("ffmpeg", ["-hide_banner", "-encoders"], timeout=timeout)
    except MediaToolError:
        return False
    if NVENC not in listed.stdout.decode("utf-8", "replace"):
        return False
    tiny = "color=c=black:s=256x144:r=25:d=0.2"
    try:
        run(
            "ffmpeg",
            ["-nostdin", "-v", "error", "-f", "lavfi", "-i", tiny, "-c:v", NVENC, "-f", "null", "-"],
            timeout=timeout,
        )
    except MediaToolError:
        return False
    return True


def choose_encoder(preference: Literal["auto", "h264_nvenc", "libx264"]) -> Encoder:
    """The named encoder, or for ``auto`` NVENC when it works here and libx264 otherwise."""
    if preference != "auto":
        return preference
    return NVENC if nvenc_usable() else LIBX264


def _run_with_progress(
    command: list[str], *, cwd: Path, timeout: float, duration: float, progress: ProgressFn
) -> None:
    """Run ffmpeg with ``-progress pipe:1``, reporting the encoded share of ``duration``."""
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            process.kill()

        watchdog = threading.Timer(timeout, expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                key, _, value = line.strip().partition("=")
                if key == "out_time_us" and value.isdigit() and duration > 0:
                    seconds = int(value) / 1_000_000
                    progress(min(0.99, seconds / duration), f"encoded {seconds:.0f} of {duration:.0f} s")
            process.wait()
        finally:
            watchdog.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
        if expired.is_set():
            raise MediaToolError(f"ffmpeg did not finish the preview within {timeout:.0f} s")
        if process.returncode != 0:
            stderr.seek(0)
            raise MediaToolError(
                f"ffmpeg failed: {last_error_line(stderr.read().decode('utf-8', 'replace'))}"
            )


def render_preview(
    source: Path,
    destination: Path,
    media: MediaInfo,
    *,
    subtitles: Path | None,
    encoder: Encoder,
    timeout: float,
    progress: ProgressFn = ignore_progress,
) -> RenderedPreview:
    """Write ``source`` as an MP4 preview to ``destination``: scaled, ``subtitles`` (SRT) burned in.

    The first video stream (not cover art) and first audio stream, if any, are kept; other streams
    are dropped. Raises UnsupportedMedia without a video stream, MediaToolError when ffmpeg fails or
    ``timeout`` passes.
    """
    if not media.has_video or not media.width or not media.height:
        raise UnsupportedMedia("input has no video stream to render a preview of")
    width, height = preview_size(media.width, media.height)
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="reelstep-render-") as folder:
        # libass reads the subtitles by name; a fixed name beside ffmpeg's cwd needs no path escaping.
        graph = f"scale={width}:{height}"
        if subtitles is not None:
            shutil.copyfile(subtitles, Path(folder) / SUBTITLES_FILE)
            graph += f",subtitles=filename={SUBTITLES_FILE}"
        command = [
            binary("ffmpeg"),
            *("-nostdin", "-hide_banner", "-nostats", "-v", "error", "-y"),
            *("-i", str(source.resolve())),
            *("-map", "0:V:0", "-map", "0:a:0?", "-sn", "-dn"),
            *("-vf", graph, *_VIDEO_ARGS[encoder], "-pix_fmt", "yuv420p"),
            *("-c:a", "aac", "-b:a", "128k"),
            *("-movflags", "+faststart", "-progress", "pipe:1"),
            str(destination.resolve()),
        ]
        _run_with_progress(
            command, cwd=Path(folder), timeout=timeout, duration=media.duration, progress=progress
        )
    progress(1.0, f"preview {width}x{height} ({encoder})")
    return RenderedPreview(
        path=destination, width=width, height=height, encoder=encoder, subtitles=subtitles is not None
    )
