"""Scene detection on generated videos with known cuts and on real footage, against PySceneDetect itself."""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import pytest
from scenedetect import AdaptiveDetector, ContentDetector, FrameTimecode, SceneManager, open_video

from media_factory import cut_frames, make_audio_only, make_cut_video, make_rotated_copy
from reelstep.errors import MediaToolError, UnsupportedMedia
from reelstep.media.frames import FrameStream
from reelstep.models import MediaInfo, Scene, SceneOptions
from reelstep.steps import chunks as chunks_module
from reelstep.steps.probe import probe_media
from reelstep.steps.scenes import detect_scenes, detection_size, scenes_from_cuts
from reelstep.steps.signals import FrameAnalyzer
from reelstep.steps.timeline import frame_rate

SHARED_MEDIA = Path(__file__).resolve().parents[2].parent / "shared" / "media"
SHOTS = [
    ("testsrc2", 2.0),
    ("smptebars", 2.0),
    ("mandelbrot", 2.0),
    ("color=c=red", 1.2),
    ("rgbtestsrc", 1.0),
]
FPS = 25
TIMEOUT = 60.0


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scenes")


@pytest.fixture(scope="module")
def cut_video(media_dir: Path) -> Path:
    return make_cut_video(media_dir / "five-shots.mp4", SHOTS, size=(320, 240), fps=FPS, audio="sine")


def shared(name: str) -> Path:
    path = SHARED_MEDIA / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (../shared/media is only beside the project's own checkouts)")
    return path


def cuts_of(found: list[Scene]) -> list[int]:
    return [scene.start_frame for scene in found[1:]]


def scenedetect_cuts(video: Path, detector: ContentDetector) -> list[int]:
    """Cut frames from PySceneDetect's own Python API, used the usual way."""
    manager = SceneManager()
    manager.add_detector(detector)
    manager.detect_scenes(open_video(str(video)))
    return [start.frame_num for start, _ in manager.get_scene_list()[1:]]


def assert_same_cuts(ours: list[int], theirs: list[int], tolerance: int = 1) -> None:
    assert len(ours) == len(theirs), (ours, theirs)
    assert all(abs(mine - other) <= tolerance for mine, other in zip(ours, theirs, strict=True)), (
        ours,
        theirs,
    )


def test_finds_the_known_hard_cuts(cut_video: Path) -> None:
    # Given five shots of known lengths from different lavfi sources
    media = probe_media(cut_video, timeout=TIMEOUT)
    # When scenes are detected with the default options
    found = detect_scenes(cut_video, media, SceneOptions(), timeout=TIMEOUT)
    # Then each shot change is a cut, within a frame of where the shots were joined
    assert_same_cuts(cuts_of(found), cut_frames(SHOTS, FPS))


def test_scenes_cover_the_whole_video_contiguously(cut_video: Path) -> None:
    # Given the five-shot video
    media = probe_media(cut_video, timeout=TIMEOUT)
    # When scenes are detected
    found = detect_scenes(cut_video, media, SceneOptions(), timeout=TIMEOUT)
    # Then they are numbered from 0, touch end to start, and span every frame and second of the video
    assert [scene.index for scene in found] == list(range(len(found)))
    assert found[0].start == 0 and found[0].start_frame == 0
    assert all(a.end == b.start and a.end_frame == b.start_frame for a, b in pairwise(found))
    assert found[-1].end_frame == media.frame_count
    assert found[-1].end == pytest.approx(media.duration)
    assert all(scene.start == pytest.approx(scene.start_frame / FPS) for scene in found)


def test_same_cuts_as_scenedetect_itself(cut_video: Path) -> None:
    # Given the five-shot video
    media = probe_media(cut_video, timeout=TIMEOUT)
    # When reelstep and PySceneDetect's own API detect scenes with the same settings
    ours = detect_scenes(
        cut_video, media, SceneOptions(detector="content", threshold=27.0, min_scene_len=15), timeout=TIMEOUT
    )
    theirs = scenedetect_cuts(cut_video, ContentDetector(threshold=27.0, min_scene_len=15))
    # Then the cuts agree within a frame
    assert_same_cuts(cuts_of(ours), theirs)


def test_adaptive_detector_finds_the_cuts_as_scenedetect_does(cut_video: Path) -> None:
    # Given the five-shot video
    media = probe_media(cut_video, timeout=TIMEOUT)
    # When the adaptive detector runs in reelstep and in PySceneDetect
    ours = detect_scenes(cut_video, media, SceneOptions(detector="adaptive"), timeout=TIMEOUT)
    theirs = scenedetect_cuts(cut_video, AdaptiveDetector(min_scene_len=15))
    # Then both find the known cuts, and agree within a frame
    assert_same_cuts(cuts_of(ours), cut_frames(SHOTS, FPS))
    assert_same_cuts(cuts_of(ours), theirs)


def test_a_threshold_above_every_score_finds_no_cuts(cut_video: Path) -> None:
    # Given the five-shot video / When the threshold is far above any shot change's score
    media = probe_media(cut_video, timeout=TIMEOUT)
    found = detect_scenes(
        cut_video, media, SceneOptions(detector="content", threshold=250.0), timeout=TIMEOUT
    )
    # Then nothing counts as a cut
    assert len(found) == 1


def test_decoding_in_parallel_stretches_gives_exactly_the_single_pass_scenes(
    cut_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the five-shot video, detected in one pass by one decoder
    media = probe_media(cut_video, timeout=TIMEOUT)
    monkeypatch.setattr(chunks_module, "available_cpus", lambda: 1)
    single = detect_scenes(cut_video, media, SceneOptions(), timeout=TIMEOUT)
    # When it is split into stretches decoded at once (seams land inside shots and near cuts)
    monkeypatch.setattr(chunks_module, "STRETCH_MIN_FRAMES", 20)
    monkeypatch.setattr(chunks_module, "available_cpus", lambda: 4)
    chunked = detect_scenes(cut_video, media, SceneOptions(), timeout=TIMEOUT)
    # Then the scenes are identical, frame for frame
    assert chunked == single


def test_a_video_without_cuts_is_one_scene(media_dir: Path) -> None:
    # Given a single moving shot
    video = make_cut_video(media_dir / "one-shot.mp4", [("testsrc2", 3.0)], fps=FPS)
    media = probe_media(video, timeout=TIMEOUT)
    # When scenes are detected
    found = detect_scenes(video, media, SceneOptions(), timeout=TIMEOUT)
    # Then the whole video is one scene
    assert len(found) == 1
    assert (found[0].start_frame, found[0].end_frame) == (0, 75)


def test_progress_rises_to_one(cut_video: Path) -> None:
    # Given the five-shot video and a listener
    media = probe_media(cut_video, timeout=TIMEOUT)
    reports: list[float] = []
    # When scenes are detected
    detect_scenes(cut_video, media, SceneOptions(), timeout=TIMEOUT, progress=lambda f, _m: reports.append(f))
    # Then progress never goes back and ends at 1
    assert reports and reports[-1] == 1.0
    assert reports == sorted(reports)


def test_audio_only_input_is_unsupported(media_dir: Path) -> None:
    # Given a file with sound and no picture
    audio = make_audio_only(media_dir / "tone.m4a")
    media = probe_media(audio, timeout=TIMEOUT)
    # When scenes are asked for / Then it is refused as unsupported media
    with pytest.raises(UnsupportedMedia):
        detect_scenes(audio, media, SceneOptions(), timeout=TIMEOUT)


def test_a_file_ffmpeg_cannot_decode_is_a_media_tool_error(media_dir: Path) -> None:
    # Given bytes that are no video, described as if they were one
    junk = media_dir / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    media = MediaInfo(
        duration=2.0, width=320, height=240, fps=25.0, has_video=True, has_audio=False, size_bytes=1800
    )
    # When scenes are detected / Then ffmpeg's failure surfaces with its own last words
    with pytest.raises(MediaToolError, match=r"ffmpeg failed: .*Invalid data"):
        detect_scenes(junk, media, SceneOptions(), timeout=TIMEOUT)


def test_running_out_of_time_is_a_media_tool_error(cut_video: Path) -> None:
    # Given the five-shot video and next to no time / When scenes are detected
    media = probe_media(cut_video, timeout=TIMEOUT)
    # Then ffmpeg is stopped and the timeout is reported
    with pytest.raises(MediaToolError, match="did not finish"):
        detect_scenes(cut_video, media, SceneOptions(), timeout=0.001)


def test_rotated_video_gives_the_same_cuts(media_dir: Path, cut_video: Path) -> None:
    # Given the five-shot video, also stored with a 90 degree display rotation
    rotated = media_dir / "rotated.mp4"
    make_rotated_copy(cut_video, rotated)
    media = probe_media(rotated, timeout=TIMEOUT)
    assert media.rotation in (90, 270) and (media.width, media.height) == (240, 320)
    # When scenes are detected in it / Then the cuts are those of the upright video
    found = detect_scenes(rotated, media, SceneOptions(), timeout=TIMEOUT)
    assert_same_cuts(cuts_of(found), cut_frames(SHOTS, FPS))


def test_frame_analyzer_matches_content_detector_bit_for_bit(cut_video: Path) -> None:
    # Given the five-shot video's frames at the size PySceneDetect analyses
    width, height = detection_size(320, 240)
    analyzer, detector = FrameAnalyzer(), ContentDetector()
    # When each frame is scored by reelstep's analyzer and by ContentDetector itself
    with FrameStream(cut_video, width=width, height=height, timeout=TIMEOUT) as frames:
        for number, frame in enumerate(frames):
            detector.process_frame(FrameTimecode(number, Fraction(FPS)), frame)
            # Then the scores are exactly equal
            (score, *_), _, _ = analyzer.values(frame)
            assert score == detector._frame_score


@pytest.mark.parametrize(
    ("size", "expected"), [((1280, 720), (256, 144)), ((320, 240), (256, 192)), ((200, 100), (200, 100))]
)
def test_detection_size_is_scenedetects_auto_downscale(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    # Given a frame size / When the analysis size is chosen / Then it is what PySceneDetect would analyse
    assert detection_size(*size) == expected


def test_frame_rate_restores_ntsc_fractions() -> None:
    # Given probe's rounded 29.97 fps / When the exact rate is asked for / Then it is 30000/1001
    media = MediaInfo(
        duration=1.0, width=2, height=2, fps=29.97003, has_video=True, has_audio=False, size_bytes=1
    )
    assert frame_rate(media) == Fraction(30000, 1001)


def test_scenes_from_cuts_drops_impossible_cuts_and_stretches_the_last_scene() -> None:
    # Given cuts including duplicates and cuts outside the decoded frames, and audio outlasting the picture
    found = scenes_from_cuts([0, 50, 50, 100, 250], frames=200, rate=Fraction(25), duration=8.5)
    # When scenes are made / Then only real cuts split, and the last scene runs to the media's end
    assert [(s.start_frame, s.end_frame) for s in found] == [(0, 50), (50, 100), (100, 200)]
    assert (found[-1].start, found[-1].end) == (4.0, 8.5)


@pytest.mark.shared_media
@pytest.mark.parametrize("name", ["big_buck_bunny_0_30.webm", "chaplin.mp4"])
def test_real_footage_cuts_match_scenedetect(name: str) -> None:
    # Given real footage (VP8 animation with several shot cuts; old film in H.264)
    video = shared(name)
    media = probe_media(video, timeout=TIMEOUT)
    # When reelstep and PySceneDetect's own API detect scenes with the same settings
    ours = detect_scenes(video, media, SceneOptions(detector="content"), timeout=TIMEOUT)
    theirs = scenedetect_cuts(video, ContentDetector(threshold=27.0, min_scene_len=15))
    # Then the cuts agree within a frame
    assert_same_cuts(cuts_of(ours), theirs)
    assert ours[-1].end == pytest.approx(media.duration)
