"""ffprobe's JSON normalised into MediaInfo, on canned probe output."""

from __future__ import annotations

import pytest

from reelstep.errors import UnsupportedMedia
from reelstep.steps.probe import media_info_from_probe

VIDEO = {
    "codec_type": "video",
    "codec_name": "h264",
    "width": 1920,
    "height": 1080,
    "avg_frame_rate": "30000/1001",
    "nb_frames": "300",
}
AUDIO = {"codec_type": "audio", "codec_name": "aac", "sample_rate": "48000", "channels": 2}


def probe(*streams: dict[str, object], duration: str = "10.01") -> dict[str, object]:
    return {"streams": list(streams), "format": {"duration": duration, "format_name": "mov,mp4"}}


def test_a_video_with_sound() -> None:
    info = media_info_from_probe(probe(VIDEO, AUDIO), 1234)
    assert (info.width, info.height, info.frame_count) == (1920, 1080, 300)
    assert info.fps == pytest.approx(29.97, abs=0.01)
    assert info.has_video and info.has_audio
    assert (info.video_codec, info.audio_codec, info.audio_sample_rate) == ("h264", "aac", 48000)
    assert info.duration == 10.01


def test_rotation_swaps_the_display_size() -> None:
    rotated = {**VIDEO, "side_data_list": [{"side_data_type": "Display Matrix", "rotation": -90}]}
    info = media_info_from_probe(probe(rotated), 1)
    assert (info.width, info.height, info.rotation) == (1080, 1920, 270)


def test_cover_art_is_not_video() -> None:
    cover = {
        "codec_type": "video",
        "codec_name": "mjpeg",
        "width": 500,
        "height": 500,
        "disposition": {"attached_pic": 1},
    }
    info = media_info_from_probe(probe(AUDIO, cover), 1)
    assert not info.has_video
    assert info.width is None


def test_frame_count_is_estimated_when_the_container_does_not_say() -> None:
    no_count = {k: v for k, v in VIDEO.items() if k != "nb_frames"} | {"avg_frame_rate": "25/1"}
    assert media_info_from_probe(probe(no_count, duration="4.0"), 1).frame_count == 100


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (probe(), "no audio or video stream"),
        (probe(AUDIO, duration="N/A"), "duration"),
        (probe({**VIDEO, "width": 0}), "picture size"),
    ],
)
def test_unusable_probes_are_refused_with_a_reason(document: dict[str, object], message: str) -> None:
    with pytest.raises(UnsupportedMedia, match=message):
        media_info_from_probe(document, 1)
