"""Probe: what the input is, read from ffprobe and checked before any heavy work starts."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

from reelstep.errors import MediaToolError, UnsupportedMedia
from reelstep.media.ffmpeg import binary, ffprobe_json, run
from reelstep.models import MediaInfo


def _fraction(value: str | None) -> Fraction | None:
    if not value or value in {"0/0", "0"}:
        return None
    try:
        rate = Fraction(value)
    except (ValueError, ZeroDivisionError):
        return None
    return rate if rate > 0 else None


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _rotation(stream: dict[str, Any]) -> int:
    """Display rotation from the display matrix side data, or the legacy ``rotate`` tag."""
    for side_data in stream.get("side_data_list", []):
        if "rotation" in side_data:
            return round(float(side_data["rotation"])) % 360
    rotate = stream.get("tags", {}).get("rotate")
    return int(rotate) % 360 if rotate and str(rotate).lstrip("-").isdigit() else 0


def _is_picture(stream: dict[str, Any]) -> bool:
    """Cover art in audio files shows up as a one-frame video stream; it is not video."""
    return bool(stream.get("disposition", {}).get("attached_pic"))


def media_info_from_probe(probe: dict[str, Any], size_bytes: int) -> MediaInfo:
    """Normalise ffprobe's JSON into MediaInfo; raise UnsupportedMedia when it holds no usable stream."""
    streams = probe.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video" and not _is_picture(s)), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None and audio is None:
        raise UnsupportedMedia("input has no audio or video stream")

    candidates = [_float(probe.get("format", {}).get("duration"))]
    candidates += [_float(s.get("duration")) for s in (video, audio) if s is not None]
    durations = [d for d in candidates if d]
    if not durations:
        raise UnsupportedMedia("input's duration cannot be read; the file may be truncated")
    duration = durations[0]

    info: dict[str, Any] = {
        "duration": round(duration, 3),
        "has_video": video is not None,
        "has_audio": audio is not None,
        "container": probe.get("format", {}).get("format_name"),
        "size_bytes": size_bytes,
    }
    if video is not None:
        rotation = _rotation(video)
        width, height = int(video.get("width") or 0), int(video.get("height") or 0)
        if rotation in (90, 270):
            width, height = height, width
        rate = _fraction(video.get("avg_frame_rate")) or _fraction(video.get("r_frame_rate"))
        frames = video.get("nb_frames")
        frame_count = int(frames) if str(frames or "").isdigit() else None
        if frame_count is None and rate is not None:
            frame_count = round(duration * float(rate))
        if width <= 0 or height <= 0:
            raise UnsupportedMedia("video stream has no picture size; the file may be corrupt")
        info |= {
            "width": width,
            "height": height,
            "rotation": rotation,
            "fps": round(float(rate), 6) if rate else None,
            "frame_count": frame_count,
            "video_codec": video.get("codec_name"),
        }
    if audio is not None:
        info |= {
            "audio_codec": audio.get("codec_name"),
            "audio_sample_rate": int(audio["sample_rate"]) if audio.get("sample_rate") else None,
            "audio_channels": audio.get("channels"),
        }
    return MediaInfo.model_validate(info)


TAIL_SECONDS = 5.0
"""How much of the end ``ensure_complete`` reads: enough to span a keyframe interval's packets."""


def data_end(path: Path, start: float, *, timeout: float) -> float | None:
    """Where the packets really end (seconds), reading only from ``start`` on; None when none are there."""
    listing = run(
        "ffprobe",
        [
            "-v",
            "error",
            "-read_intervals",
            f"{start:.3f}%",
            "-show_entries",
            "packet=pts_time,duration_time",
            "-of",
            "csv=p=0",
            path,
        ],
        timeout=timeout,
    ).stdout.decode("utf-8", "replace")
    ends = []
    for line in listing.splitlines():
        pts, _, duration = line.partition(",")
        try:
            ends.append(float(pts) + (float(duration) if duration not in ("", "N/A") else 0.0))
        except ValueError:
            continue
    return max(ends) if ends else None


def ensure_complete(path: Path, media: MediaInfo, *, timeout: float) -> None:
    """Refuse a file cut short: its header promises ``media.duration`` but its packets stop earlier.

    Containers such as Matroska or fast-start MP4 still probe fine when truncated; only reading the
    tail shows it, and that takes a fraction of a second, not a decode of the whole file.
    """
    ends_at = data_end(path, max(0.0, media.duration - TAIL_SECONDS), timeout=timeout)
    tolerance = max(1.0, 0.02 * media.duration)
    if ends_at is None or ends_at < media.duration - tolerance:
        found = f"ends at {ends_at:.1f} s" if ends_at is not None else "has no data near its end"
        raise UnsupportedMedia(f"input is truncated: it declares {media.duration:.1f} s but {found}")


def probe_media(path: Path, *, timeout: float) -> MediaInfo:
    """Describe ``path``; refuse empty, non-media, unreadable and truncated inputs, saying why."""
    size = path.stat().st_size
    if size == 0:
        raise UnsupportedMedia("input is empty")
    binary("ffprobe")  # a missing tool is the machine's fault, not the input's: let it surface as such
    try:
        probe = ffprobe_json(path, timeout=timeout)
    except MediaToolError as exc:
        detail = str(exc).removeprefix("ffprobe failed: ")
        raise UnsupportedMedia(f"input is not a readable audio or video file ({detail})") from exc
    media = media_info_from_probe(probe, size)
    ensure_complete(path, media, timeout=timeout)
    return media
