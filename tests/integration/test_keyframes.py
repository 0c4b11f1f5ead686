"""Keyframes as JPEG files: where they are taken, their size and quality, and which still a scene gets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from media_factory import cut_frames, make_audio_only, make_blurred_video, make_cut_video
from reelstep.errors import UnsupportedMedia
from reelstep.media.frames import Still
from reelstep.models import KeyframeOptions, MediaInfo, Scene, SceneOptions
from reelstep.steps import keyframes as keyframes_module
from reelstep.steps.keyframes import extract_keyframes, interval_times
from reelstep.steps.probe import probe_media
from reelstep.steps.scenes import detect_scenes

FPS = 25
FRAME = 1 / FPS
TIMEOUT = 60.0
SHOTS = [("testsrc2", 2.0), ("smptebars", 2.0), ("mandelbrot", 2.0), ("rgbtestsrc", 4.0)]


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keyframes")


@pytest.fixture(scope="module")
def hd_video(media_dir: Path) -> tuple[Path, MediaInfo]:
    """Four shots, 10 s of 1280x720: cuts at 2, 4 and 6 s."""
    video = make_cut_video(media_dir / "hd.mp4", SHOTS, size=(1280, 720), fps=FPS)
    return video, probe_media(video, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def small_video(media_dir: Path) -> tuple[Path, MediaInfo]:
    video = make_cut_video(media_dir / "small.mp4", [("testsrc2", 3.0)], size=(320, 240), fps=FPS)
    return video, probe_media(video, timeout=TIMEOUT)


def test_interval_stills_are_512px_jpegs_at_the_rule_times(
    hd_video: tuple[Path, MediaInfo], tmp_path: Path
) -> None:
    # Given 10 s of 720p video
    video, media = hd_video
    # When interval keyframes are extracted with the defaults
    frames = extract_keyframes(video, media, tmp_path, KeyframeOptions(), scenes=None, timeout=TIMEOUT)
    # Then there is one per 5 s slice, at its centre (within a couple of frames), numbered in time order
    expected = interval_times(media.duration, 8)
    assert len(frames) == len(expected) == 2
    assert all(
        at - FRAME / 2 <= frame.time <= at + 2 * FRAME for frame, at in zip(frames, expected, strict=True)
    )
    assert [frame.file for frame in frames] == ["frames/0001.jpg", "frames/0002.jpg"]
    # And each is a real JPEG file, 512 px on the long side, described truthfully
    for frame in frames:
        with Image.open(tmp_path / frame.file) as image:
            assert image.format == "JPEG"
            assert image.size == (frame.width, frame.height) == (512, 288)
        assert frame.sharpness is not None and frame.sharpness > 0
        assert frame.scene_index is None


def test_stills_are_written_at_the_asked_jpeg_quality(
    hd_video: tuple[Path, MediaInfo], tmp_path: Path
) -> None:
    # Given the 720p video and a reference JPEG that Pillow wrote at quality 70 and at quality 30
    video, media = hd_video
    reference = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    tables = {}
    for quality in (70, 30):
        reference.save(tmp_path / f"q{quality}.jpg", quality=quality)
        with Image.open(tmp_path / f"q{quality}.jpg") as saved:
            tables[quality] = saved.quantization
    for quality in (70, 30):
        # When keyframes are extracted at that quality
        out = tmp_path / f"out{quality}"
        frames = extract_keyframes(
            video, media, out, KeyframeOptions(jpeg_quality=quality), scenes=None, timeout=TIMEOUT
        )
        # Then the files carry that quality's quantisation tables
        with Image.open(out / frames[0].file) as image:
            assert image.quantization == tables[quality]


def test_small_videos_are_never_enlarged(small_video: tuple[Path, MediaInfo], tmp_path: Path) -> None:
    # Given a 320x240 video
    video, media = small_video
    # When keyframes are extracted with a 512 px limit
    frames = extract_keyframes(video, media, tmp_path, KeyframeOptions(), scenes=None, timeout=TIMEOUT)
    # Then they keep the video's own size
    assert frames and all((frame.width, frame.height) == (320, 240) for frame in frames)
    with Image.open(tmp_path / frames[0].file) as image:
        assert image.size == (320, 240)


def test_a_half_second_video_gets_one_still_inside_it(media_dir: Path, tmp_path: Path) -> None:
    # Given a video of half a second
    video = make_cut_video(media_dir / "blink.mp4", [("testsrc2", 0.5)], fps=FPS)
    media = probe_media(video, timeout=TIMEOUT)
    # When keyframes are extracted
    frames = extract_keyframes(video, media, tmp_path, KeyframeOptions(), scenes=None, timeout=TIMEOUT)
    # Then there is exactly one, from the middle, before the end
    assert len(frames) == 1
    assert 0.25 - FRAME <= frames[0].time < media.duration


def test_interval_stills_name_their_scene_when_scenes_are_known(
    hd_video: tuple[Path, MediaInfo], tmp_path: Path
) -> None:
    # Given the 720p video's scenes
    video, media = hd_video
    scenes = detect_scenes(video, media, SceneOptions(), timeout=TIMEOUT)
    # When interval keyframes are extracted knowing them
    frames = extract_keyframes(video, media, tmp_path, KeyframeOptions(), scenes=scenes, timeout=TIMEOUT)
    # Then each still names the scene it falls in
    for frame in frames:
        assert frame.scene_index is not None
        scene = scenes[frame.scene_index]
        assert scene.start <= frame.time < scene.end


def test_scene_mode_takes_one_still_inside_each_scene(
    hd_video: tuple[Path, MediaInfo], tmp_path: Path
) -> None:
    # Given the 720p video's four scenes
    video, media = hd_video
    scenes = detect_scenes(video, media, SceneOptions(), timeout=TIMEOUT)
    assert [scene.start_frame for scene in scenes[1:]] == cut_frames(SHOTS, FPS)
    # When keyframes are extracted one per scene
    options = KeyframeOptions(mode="scene")
    frames = extract_keyframes(video, media, tmp_path, options, scenes=scenes, timeout=TIMEOUT)
    # Then each scene has exactly one, well inside it (away from the cuts), in order
    assert [frame.scene_index for frame in frames] == [0, 1, 2, 3]
    for frame, scene in zip(frames, scenes, strict=True):
        assert scene.start + 0.2 <= frame.time <= scene.end - 0.2
        assert (tmp_path / frame.file).is_file()


def test_scene_mode_keeps_the_longest_scenes_when_there_are_too_many(
    hd_video: tuple[Path, MediaInfo], tmp_path: Path
) -> None:
    # Given four scenes of 2, 2, 2 and 4 s (the last the longest), and room for two stills
    video, media = hd_video
    scenes = detect_scenes(video, media, SceneOptions(), timeout=TIMEOUT)
    shortened = [*scenes[:2], scenes[2].model_copy(update={"end": 5.9}), scenes[3]]
    # When keyframes are extracted one per scene
    options = KeyframeOptions(mode="scene", max_frames=2)
    frames = extract_keyframes(video, media, tmp_path, options, scenes=shortened, timeout=TIMEOUT)
    # Then the longest scene and the earliest of the tied next-longest get one, in time order
    assert [frame.scene_index for frame in frames] == [0, 3]


@pytest.mark.parametrize(("blurred", "sharp_part"), [((0.0, 2.5), (2.5, 4.0)), ((1.5, 4.0), (0.0, 1.5))])
def test_scene_mode_takes_the_sharp_frame_the_analysis_pass_chose(
    media_dir: Path, tmp_path: Path, blurred: tuple[float, float], sharp_part: tuple[float, float]
) -> None:
    # Given one 4 s shot, heavily blurred for part of it, described as one scene by the analysis pass
    video = make_blurred_video(media_dir / f"blur-{blurred[0]}.mp4", seconds=4.0, blurred=blurred, fps=FPS)
    media = probe_media(video, timeout=TIMEOUT)
    [scene] = detect_scenes(video, media, SceneOptions(detector="content", threshold=250.0), timeout=TIMEOUT)
    assert scene.visual is not None
    # When the scene's still is extracted
    options = KeyframeOptions(mode="scene")
    [frame] = extract_keyframes(video, media, tmp_path, options, scenes=[scene], timeout=TIMEOUT)
    # Then it is the chosen frame, from the sharp part
    assert sharp_part[0] <= frame.time < sharp_part[1]
    assert frame.time == pytest.approx(scene.visual.keyframe_time, abs=2 * FRAME)


def test_a_scene_from_elsewhere_gets_its_middle_frame(
    small_video: tuple[Path, MediaInfo], tmp_path: Path
) -> None:
    # Given a scene that no analysis pass described
    video, media = small_video
    scene = Scene(index=0, start=0.0, end=3.0, start_frame=0, end_frame=75)
    # When its still is extracted / Then it comes from the middle
    [frame] = extract_keyframes(
        video, media, tmp_path, KeyframeOptions(mode="scene"), scenes=[scene], timeout=TIMEOUT
    )
    assert 1.5 - FRAME / 2 <= frame.time <= 1.5 + 2 * FRAME


def test_scene_mode_without_scenes_falls_back_to_interval_times(
    small_video: tuple[Path, MediaInfo], tmp_path: Path
) -> None:
    # Given a video whose scenes are not known
    video, media = small_video
    # When scene-mode keyframes are asked for
    frames = extract_keyframes(
        video, media, tmp_path, KeyframeOptions(mode="scene"), scenes=None, timeout=TIMEOUT
    )
    # Then the interval rule decides
    assert len(frames) == len(interval_times(media.duration, 8))


def test_progress_ends_at_one(small_video: tuple[Path, MediaInfo], tmp_path: Path) -> None:
    # Given a listener / When keyframes are extracted / Then progress rises and ends at 1
    video, media = small_video
    reports: list[float] = []
    extract_keyframes(
        video,
        media,
        tmp_path,
        KeyframeOptions(),
        scenes=None,
        timeout=TIMEOUT,
        progress=lambda fraction, _message: reports.append(fraction),
    )
    assert reports and reports[-1] == 1.0 and reports == sorted(reports)


def test_audio_only_input_is_unsupported(media_dir: Path, tmp_path: Path) -> None:
    # Given a file with sound and no picture
    audio = make_audio_only(media_dir / "tone.m4a")
    media = probe_media(audio, timeout=TIMEOUT)
    # When keyframes are asked for / Then it is refused as unsupported media
    with pytest.raises(UnsupportedMedia):
        extract_keyframes(audio, media, tmp_path, KeyframeOptions(), scenes=None, timeout=TIMEOUT)


def test_a_reference_only_seek_that_lands_far_off_is_redone_exactly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given an ffmpeg that, when skipping non-reference frames, lands 5 frames late or finds nothing
    calls: list[bool] = []

    def fake_grab(video: Path, times: list[float], **kwargs: object) -> list[Still | None]:
        calls.append(bool(kwargs["references_only"]))
        pixels = np.full((24, 32, 3), 128, dtype=np.uint8)
        if kwargs["references_only"]:
            return [Still(time=at + 5 * FRAME, pixels=pixels) if at < 3 else None for at in times]
        return [Still(time=at + FRAME / 2, pixels=pixels) for at in times]

    monkeypatch.setattr(keyframes_module, "grab_frames", fake_grab)
    media = MediaInfo(
        duration=8.0,
        width=32,
        height=24,
        fps=FPS,
        frame_count=200,
        has_video=True,
        has_audio=False,
        size_bytes=1,
    )
    # When keyframes are extracted
    frames = extract_keyframes(
        tmp_path / "video.mp4", media, tmp_path, KeyframeOptions(), scenes=None, timeout=TIMEOUT
    )
    # Then both stills were grabbed again frame-accurately, at the frames asked for
    assert calls.count(False) >= 1
    assert [frame.time for frame in frames] == pytest.approx([2.0, 6.0])
