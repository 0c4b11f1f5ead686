"""Probe on real files made with ffmpeg: what it reports, and the inputs it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from media_factory import make_cut_video, make_speech
from reelstep.errors import MediaToolError, UnsupportedMedia
from reelstep.steps.probe import probe_media

TIMEOUT = 30.0


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("probe")


@pytest.fixture(scope="module")
def mkv(folder: Path) -> Path:
    """A 6 s Matroska file: it probes fine even when cut short, so only the tail check catches that."""
    return make_cut_video(folder / "three-shots.mkv", size=(320, 240), fps=25, audio="sine")


def test_a_video_with_sound_is_described(mkv: Path) -> None:
    media = probe_media(mkv, timeout=TIMEOUT)
    assert media.has_video and media.has_audio
    assert (media.width, media.height, media.fps) == (320, 240, 25.0)
    assert media.duration == pytest.approx(6.0, abs=0.1)
    assert media.video_codec == "h264"


def test_speech_alone_is_audio_only(folder: Path) -> None:
    media = probe_media(make_speech(folder / "speech.wav", "hello there"), timeout=TIMEOUT)
    assert media.has_audio and not media.has_video
    assert media.width is None


@pytest.mark.parametrize("keep", [0.3, 0.6])
def test_a_truncated_matroska_file_is_refused_with_where_it_ends(
    mkv: Path, folder: Path, keep: float
) -> None:
    # Given the first part of a file whose header still declares 6 s
    cut = folder / f"cut-{keep}.mkv"
    data = mkv.read_bytes()
    cut.write_bytes(data[: int(len(data) * keep)])
    # When probed / Then it is refused as truncated, naming both durations
    with pytest.raises(UnsupportedMedia, match=r"truncated: it declares 6\.0 s but"):
        probe_media(cut, timeout=TIMEOUT)


def test_a_truncated_mp4_without_its_index_is_refused(folder: Path) -> None:
    video = make_cut_video(folder / "clip.mp4", size=(320, 240))
    cut = folder / "cut.mp4"
    cut.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    with pytest.raises(UnsupportedMedia, match="not a readable audio or video file"):
        probe_media(cut, timeout=TIMEOUT)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "input is empty"), (b"plain text, not media\n" * 50, "not a readable audio or video file")],
    ids=["empty", "text"],
)
def test_files_that_are_not_media_are_refused(folder: Path, content: bytes, message: str) -> None:
    path = folder / "not-media.mp4"
    path.write_bytes(content)
    with pytest.raises(UnsupportedMedia, match=message):
        probe_media(path, timeout=TIMEOUT)


def test_a_missing_ffprobe_is_reported_as_such_not_as_bad_media(
    mkv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MediaToolError, match="ffprobe is not installed"):
        probe_media(mkv, timeout=TIMEOUT)
