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


def make_transition_video(
    path: Path,
    shots: Sequence[tuple[str, float]],
    transitions: Sequence[tuple[str, float]],
    *,
    size: tuple[int, int] = (320, 240),
    fps: int = 25,
) -> Path:
    """Shots joined one after another by ``transitions`` (one fewer than shots): ("cut", 0) is a hard cut,
    any other name is an ffmpeg xfade transition of that many seconds ("fade": a dissolve, "fadeblack": a
    fade through black). ``transition_frames`` gives where each lands."""
    width, height = size
    inputs: list[str | Path] = []
    for source, seconds in shots:
        inputs += ["-t", f"{seconds}", "-f", "lavfi", "-i", _source(source, width, height, fps)]
    graph = [f"[{index}:v]format=yuv420p,settb=1/{fps}[s{index}]" for index in range(len(shots))]
    current, length = "s0", shots[0][1]
    for index, ((kind, seconds), (_, next_length)) in enumerate(zip(transitions, shots[1:], strict=True), 1):
        if kind == "cut":
            graph.append(f"[{current}][s{index}]concat=n=2:v=1:a=0,settb=1/{fps}[j{index}]")
            length += next_length
        else:
            offset = length - seconds
            graph.append(
                f"[{current}][s{index}]xfade=transition={kind}:duration={seconds}:offset={offset}[j{index}]"
            )
            length = offset + next_length
        current = f"j{index}"
    _ffmpeg(
        *inputs,
        "-filter_complex",
        ";".join(graph),
        "-map",
        f"[{current}]",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-r",
        str(fps),
        path,
    )
    return path


def transition_frames(
    shots: Sequence[tuple[str, float]], transitions: Sequence[tuple[str, float]], fps: int = 25
) -> list[int]:
    """Where ``make_transition_video``'s transitions are: a cut's first new frame, a transition's middle."""
    frames: list[int] = []
    length = shots[0][1]
    for (kind, seconds), (_, next_length) in zip(transitions, shots[1:], strict=True):
        if kind == "cut":
            frames.append(round(length * fps))
            length += next_length
        else:
            frames.append(round((length - seconds + seconds * _change_point(kind)) * fps))
            length = length - seconds + next_length
    return frames


def _smoothstep(low: float, high: float, x: float) -> float:
    t = min(1.0, max(0.0, (x - low) / (high - low)))
    return t * t * (3 - 2 * t)


def _change_point(kind: str) -> float:
    """Where (0-1) in an xfade transition the old shot gives way to the new: the middle of a dissolve, the
    darkest moment of ffmpeg's fadeblack (which fades out in its first fifth and back in over the rest)."""
    if kind != "fadeblack":
        return 0.5
    steps = [step / 1000 for step in range(1001)]

    def shown(done: float) -> float:
        progress = 1.0 - done
        old = progress * _smoothstep(0.8, 1.0, progress)
        new = (1.0 - progress) * (1.0 - _smoothstep(0.2, 1.0, progress))
        return old + new

    return min(steps, key=shown)


def make_flash_video(
    path: Path,
    flashes: Sequence[int],
    *,
    seconds: float = 4.0,
    flash_frames: int = 2,
    size: tuple[int, int] = (320, 240),
    fps: int = 25,
) -> Path:
    """One testsrc2 shot with white flashes (``flash_frames`` long) starting at the given frames: no cuts."""
    width, height = size
    boxes = ",".join(
        f"drawbox=color=white:t=fill:enable='between(n,{start},{start + flash_frames - 1})'"
        for start in flashes
    )
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        _source("testsrc2", width, height, fps),
        "-t",
        f"{seconds}",
        "-vf",
        f"{boxes},format=yuv420p",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        path,
    )
    return path


def make_motion_video(
    path: Path,
    *,
    seconds: float = 4.0,
    source: str = "testsrc2",
    size: tuple[int, int] = (320, 240),
    fps: int = 25,
    speed: float = 4.0,
) -> Path:
    """A fast camera sweep over a picture four times the frame: motion, no cuts."""
    width, height = size
    x, y = f"{width * 1.5}*(1+sin(t*{speed}))", f"{height * 1.5}*(1+cos(t*{speed * 0.7}))"
    crop = f"crop={width}:{height}:x='{x}':y='{y}'"
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        _source(source, width * 4, height * 4, fps),
        "-t",
        f"{seconds}",
        "-vf",
        f"{crop},format=yuv420p",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        path,
    )
    return path


def make_variable_rate_video(path: Path, *, size: tuple[int, int] = (320, 240)) -> Path:
    """Two shots (testsrc2, then smptebars from 3 s) at 30 fps, every other frame dropped after 1.5 s:
    a variable frame rate (30 then 15 frames a second), with the cut at 3 s."""
    width, height = size
    _ffmpeg(
        *("-t", "3", "-f", "lavfi", "-i", _source("testsrc2", width, height, 30)),
        *("-t", "3", "-f", "lavfi", "-i", _source("smptebars", width, height, 30)),
        "-filter_complex",
        "[0:v][1:v]concat=n=2:v=1:a=0,select='lt(t,1.5)+not(mod(n,2))',format=yuv420p[v]",
        *("-map", "[v]", "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "veryfast", path),
    )
    return path


def make_odd_size_video(path: Path, *, size: tuple[int, int] = (321, 241), fps: int = 25) -> Path:
    """Two 1.5 s shots at an odd frame size (4:4:4 chroma, which odd sizes need), cut at 1.5 s."""
    width, height = size
    _ffmpeg(
        *("-t", "1.5", "-f", "lavfi", "-i", _source("testsrc2", width, height, fps)),
        *("-t", "1.5", "-f", "lavfi", "-i", _source("smptebars", width, height, fps)),
        "-filter_complex",
        f"[0:v]scale={width}:{height},setsar=1[a];[1:v]scale={width}:{height},setsar=1[b];"
        "[a][b]concat=n=2:v=1:a=0,format=yuv444p[v]",
        *("-map", "[v]", "-c:v", "libx264", "-preset", "veryfast", path),
    )
    return path


def corrupt_middle(source: Path, target: Path, *, length: int = 4000) -> Path:
    """A copy of ``source`` with ``length`` bytes of its middle overwritten: frames there fail to decode."""
    data = bytearray(source.read_bytes())
    middle = len(data) // 2
    data[middle : middle + length] = bytes([0xFF]) * length
    target.write_bytes(bytes(data))
    return target
