"""The preview render with real ffmpeg: size, codecs, duration, and subtitles that really are burned in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from media_factory import make_cut_video
from reelstep.errors import MediaToolError, UnsupportedMedia
from reelstep.media.frames import Frame, grab_frames
from reelstep.models import MediaInfo, Segment, Transcript
from reelstep.steps import probe, render
from reelstep.subtitles import to_srt

BLUE = np.array([0, 0, 255])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("render")


@pytest.fixture(scope="module")
def video(folder: Path) -> Path:
    """4 s at 1280x960 with a tone: plain blue for 2 s (so text on it shows), then a test pattern."""
    return make_cut_video(
        folder / "blue-then-pattern.mp4",
        segments=[("color=c=blue", 2.0), ("testsrc2", 2.0)],
        size=(1280, 960),
        audio="sine",
    )


@pytest.fixture(scope="module")
def subtitles(folder: Path) -> Path:
    transcript = Transcript(
        language="en", text="Burned in.", segments=[Segment(start=0.2, end=1.5, text="BURNED IN SUBTITLE")]
    )
    path = folder / "transcript.srt"
    path.write_text(to_srt(transcript), encoding="utf-8")
    return path


def media_of(path: Path) -> MediaInfo:
    return probe.probe_media(path, timeout=30)


def frame_at(path: Path, at: float, media: MediaInfo) -> Frame:
    assert media.width and media.height
    still = grab_frames(path, [at], width=media.width, height=media.height, timeout=30)[0]
    assert still is not None
    return still.pixels


def off_blue_share(pixels: Frame) -> float:
    """Share of pixels clearly not blue (text, outline, anything drawn)."""
    distance = np.abs(pixels.astype(np.int16) - BLUE).max(axis=2)
    return float((distance > 80).mean())


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1920, 1080), (1280, 720)),
        ((1080, 1920), (720, 1280)),
        ((1280, 960), (960, 720)),
        ((320, 240), (320, 240)),
        ((321, 241), (320, 240)),
        ((4000, 100), (1280, 32)),
    ],
)
def test_the_preview_fits_720p_either_way_up_never_enlarged_with_even_sides(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert render.preview_size(*size) == expected


def test_a_preview_is_h264_at_720p_with_sound_and_the_subtitles_burned_in(
    video: Path, subtitles: Path, folder: Path
) -> None:
    # Given a 4 s 1280x960 video with sound and one subtitle from 0.2 s to 1.5 s
    source = media_of(video)
    reports: list[float] = []
    # When its preview is rendered with libx264
    preview = render.render_preview(
        video,
        folder / "out" / "preview.mp4",
        source,
        subtitles=subtitles,
        encoder=render.LIBX264,
        timeout=120,
        progress=lambda fraction, message=None: reports.append(fraction),
    )
    # Then it is H.264 scaled to 960x720 with AAC sound and the input's duration
    rendered = media_of(preview.path)
    assert (rendered.video_codec, rendered.width, rendered.height) == ("h264", 960, 720)
    assert (rendered.has_audio, rendered.audio_codec) == (True, "aac")
    assert rendered.duration == pytest.approx(source.duration, abs=0.1)
    assert (preview.width, preview.height, preview.encoder, preview.subtitles) == (960, 720, "libx264", True)
    assert reports[-1] == 1.0 and reports == sorted(reports)
    # And the subtitle is drawn at the bottom while it is spoken, and gone after
    during, after = frame_at(preview.path, 1.0, rendered), frame_at(preview.path, 1.8, rendered)
    bottom = slice(rendered.height * 4 // 5, None)
    assert off_blue_share(during[bottom]) > 0.01
    assert off_blue_share(after[bottom]) < 0.001
    assert off_blue_share(during[: rendered.height // 2]) < 0.001


def test_the_index_is_at_the_front_for_progressive_playback(video: Path, folder: Path) -> None:
    preview = render.render_preview(
        video, folder / "plain.mp4", media_of(video), subtitles=None, encoder=render.LIBX264, timeout=120
    )
    data = preview.path.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")


def test_a_silent_video_gives_a_silent_preview(folder: Path) -> None:
    silent = make_cut_video(folder / "silent.mp4", segments=[("testsrc2", 1.0)], size=(320, 240))
    preview = render.render_preview(
        silent, folder / "silent-preview.mp4", media_of(silent), subtitles=None, encoder="libx264", timeout=60
    )
    rendered = media_of(preview.path)
    assert (rendered.width, rendered.height, rendered.has_audio) == (320, 240, False)


def test_audio_without_picture_is_refused(folder: Path) -> None:
    media = MediaInfo(duration=1.0, has_video=False, has_audio=True, size_bytes=10)
    with pytest.raises(UnsupportedMedia, match="no video stream"):
        render.render_preview(
            folder / "none.m4a", folder / "x.mp4", media, subtitles=None, encoder="libx264", timeout=5
        )


def test_a_render_past_its_time_limit_is_stopped(video: Path, folder: Path) -> None:
    with pytest.raises(MediaToolError, match="did not finish the preview within"):
        render.render_preview(
            video, folder / "late.mp4", media_of(video), subtitles=None, encoder="libx264", timeout=0.05
        )


def test_an_encoder_that_cannot_run_fails_with_ffmpegs_reason(video: Path, folder: Path) -> None:
    # Forcing NVENC where there is no usable device is a clear failure, not a silent fallback.
    if render.nvenc_usable():
        pytest.skip("NVENC works on this machine")
    with pytest.raises(MediaToolError, match="ffmpeg failed"):
        render.render_preview(
            video, folder / "nvenc.mp4", media_of(video), subtitles=None, encoder="h264_nvenc", timeout=60
        )


def test_auto_takes_libx264_where_nvenc_cannot_encode() -> None:
    # ffmpeg may list h264_nvenc (Debian's does) on a machine with no NVIDIA device: the test encode decides.
    if Path("/dev/nvidiactl").exists():
        pytest.skip("an NVIDIA device is present")
    assert render.nvenc_usable() is False
    assert render.choose_encoder("auto") == "libx264"
    assert render.choose_encoder("h264_nvenc") == "h264_nvenc"
