"""Test media made on the spot with ffmpeg's lavfi sources and espeak-ng, so every cut and word is known."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

FFMPEG_TIMEOUT = 120
THREE_SHOTS: tuple[tuple[str, float], ...] = (("testsrc2", 2.0), ("smptebars", 2.0), ("mandelbrot", 2.0))


def _ffmpeg(*args: str | Path) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True, timeout=FFMPEG_TIMEOUT
    )


def _source(source: str, width: int, height: int, fps: int) -> str:
    """A lavfi source at the given size and rate; ``source`` may carry options (``color=c=red``)."""
    return f"{source}{':' if '=' in source else '='}size={width}x{height}:rate={fps}"


def cut_frames(segments: Sequence[tuple[str, float]], fps: int = 25) -> list[int]:
    """The frame numbers where ``make_cut_video``'s shots after the first begin."""
    cuts, frames = [], 0
    for _, seconds in segments[:-1]:
        frames += round(seconds * fps)
        cuts.append(frames)
    return cuts


def make_cut_video(
    path: Path,
    segments: Sequence[tuple[str, float]] = THREE_SHOTS,
    *,
    size: tuple[int, int] = (320, 240),
    fps: int = 25,
    audio: str | Path | None = None,
) -> Path:
    """Concatenate lavfi sources (name, seconds) into one H.264 video: hard cuts at the known sums.

    ``audio`` is None (no audio stream), ``"sine"`` (a tone) or a path to a sound file laid under it.
    """
    width, height = size
    inputs: list[str | Path] = []
    for source, seconds in segments:
        inputs += ["-t", f"{seconds}", "-f", "lavfi", "-i", _source(source, width, height, fps)]
    total = sum(seconds for _, seconds in segments)
    labels = "".join(f"[{index}:v]" for index in range(len(segments)))
    graph = f"{labels}concat=n={len(segments)}:v=1:a=0,format=yuv420p[v]"
    maps = ["-map", "[v]"]
    if audio == "sine":
        inputs += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={total}"]
    elif audio is not None:
        inputs += ["-i", audio]
    if audio is not None:
        graph += f";[{len(segments)}:a]apad,atrim=duration={total}[a]"
        maps += ["-map", "[a]", "-c:a", "aac"]
    _ffmpeg(
        *inputs,
        "-filter_complex",
        graph,
        *maps,
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-r",
        str(fps),
        path,
    )
    return path


def make_speech(path: Path, text: str, *, lead_silence: float = 0.0) -> Path:
    """Speak ``text`` with espeak-ng into a WAV, after ``lead_silence`` seconds of silence."""
    spoken = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(spoken), text], check=True, timeout=FFMPEG_TIMEOUT)
    delay = int(lead_silence * 1000)
    _ffmpeg("-i", spoken, "-af", f"adelay={delay}:all=1", "-ar", "16000", "-ac", "1", path)
    spoken.unlink()
    return path


def make_blurred_video(
    path: Path,
    *,
    seconds: float = 4.0,
    blurred: tuple[float, float] = (0.0, 2.5),
    size: tuple[int, int] = (320, 240),
    fps: int = 25,
) -> Path:
    """One shot of testsrc2, box-blurred hard from ``blurred[0]`` to ``blurred[1]`` s, sharp elsewhere."""
    width, height = size
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        _source("testsrc2", width, height, fps),
        "-t",
        f"{seconds}",
        "-vf",
        f"boxblur=8:2:enable='between(t,{blurred[0]},{blurred[1]})',format=yuv420p",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        path,
    )
    return path


def make_audio_only(path: Path, *, seconds: float = 2.0) -> Path:
    """A tone with no video stream at all (the container follows ``path``'s suffix, e.g. .m4a or .wav)."""
    _ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", path)
    return path


def make_rotated_copy(source: Path, target: Path, *, degrees: int = 90) -> Path:
    """``source``'s streams, untouched, with a display rotation players (and ffmpeg) apply on decode."""
    try:  # ffmpeg 6 and later: an input option that writes the display matrix
        _ffmpeg("-display_rotation:v:0", str(degrees), "-i", source, "-c", "copy", target)
    except subprocess.CalledProcessError:  # ffmpeg 5: the legacy rotate tag, turned into a display matrix
        _ffmpeg("-i", source, "-c", "copy", "-metadata:s:v:0", f"rotate={degrees}", target)
    return target
