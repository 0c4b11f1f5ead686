"""When interval keyframes are taken, how big they are, and which scene a time falls in."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reelstep.models import Scene
from reelstep.steps.keyframes import interval_step, interval_times, scene_at, thumbnail_size


@pytest.mark.parametrize(
    ("duration", "step"),
    [(0.5, 5.0), (30.0, 5.0), (30.01, 10.0), (60.0, 10.0), (60.01, 20.0), (3600.0, 20.0)],
)
def test_the_rule_picks_the_step_from_the_duration(duration: float, step: float) -> None:
    # Given a video of some duration / When the interval step is chosen / Then it follows the VideoFramer rule
    assert interval_step(duration) == step


def test_up_to_30_seconds_one_frame_every_5_seconds_at_slice_centres() -> None:
    # Given 30 s of video and room for 8 frames
    # When interval times are chosen
    times = interval_times(30.0, 8)
    # Then there is one every 5 s, in the middle of each 5 s slice (never the black t=0 frame)
    assert times == pytest.approx([2.5, 7.5, 12.5, 17.5, 22.5, 27.5])


def test_up_to_60_seconds_one_frame_every_10_seconds() -> None:
    # Given 40 s of video / When interval times are chosen / Then one per 10 s slice, at its centre
    assert interval_times(40.0, 8) == pytest.approx([5.0, 15.0, 25.0, 35.0])


def test_longer_videos_one_frame_every_20_seconds() -> None:
    # Given 2 minutes of video / When interval times are chosen / Then one per 20 s slice
    assert interval_times(120.0, 8) == pytest.approx([10.0, 30.0, 50.0, 70.0, 90.0, 110.0])


def test_a_partial_last_slice_still_gets_a_frame_and_slices_stay_equal() -> None:
    # Given 12 s of video (two full 5 s slices and a partial one)
    # When interval times are chosen
    times = interval_times(12.0, 8)
    # Then every started slice counts, and the frames are spread evenly over the whole video
    assert times == pytest.approx([2.0, 6.0, 10.0])


def test_when_the_cap_bites_the_frames_spread_over_the_whole_video() -> None:
    # Given 5 minutes of video, for which the rule asks for 15 frames, and a cap of 8
    # When interval times are chosen
    times = interval_times(300.0, 8)
    # Then there are 8, spread evenly to the end instead of covering only the first 8 * 20 = 160 s
    assert times == pytest.approx([18.75 + 37.5 * index for index in range(8)])
    assert times[-1] > 160.0


def test_a_lower_cap_spreads_fewer_frames_over_the_same_video() -> None:
    # Given 30 s of video and room for only 3 frames / When times are chosen / Then they split it in three
    assert interval_times(30.0, 3) == pytest.approx([5.0, 15.0, 25.0])


@pytest.mark.parametrize(("duration", "expected"), [(0.5, [0.25]), (0.04, [0.02]), (4.0, [2.0])])
def test_short_videos_get_one_frame_in_the_middle(duration: float, expected: list[float]) -> None:
    # Given a video shorter than one slice / When times are chosen / Then its middle is the only frame
    assert interval_times(duration, 8) == pytest.approx(expected)


@pytest.mark.parametrize(("duration", "max_frames"), [(0.0, 8), (-1.0, 8), (10.0, 0)])
def test_nothing_to_take_gives_no_times(duration: float, max_frames: int) -> None:
    # Given no duration or no room / When times are chosen / Then there are none
    assert interval_times(duration, max_frames) == []


@given(
    duration=st.floats(min_value=1e-3, max_value=36_000.0, allow_nan=False),
    max_frames=st.integers(min_value=1, max_value=100),
)
def test_times_are_inside_the_video_increasing_and_as_many_as_the_rule_allows(
    duration: float, max_frames: int
) -> None:
    # Given any duration and cap
    # When interval times are chosen
    times = interval_times(duration, max_frames)
    # Then every time is inside (0, duration), strictly increasing, and the count is the capped rule
    assert all(0.0 < at < duration for at in times)
    assert times == sorted(set(times))
    assert len(times) == min(max_frames, max(1, math.ceil(duration / interval_step(duration) - 1e-9)))


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1280, 720), (512, 288)),
        ((720, 1280), (288, 512)),
        ((320, 240), (320, 240)),
        ((512, 512), (512, 512)),
    ],
)
def test_stills_fit_512_on_the_long_side_and_are_never_enlarged(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    # Given a picture size / When a 512 px still size is chosen / Then it fits, keeps aspect, never grows
    assert thumbnail_size(*size, 512) == expected


def test_scene_at_finds_the_scene_holding_a_time() -> None:
    # Given two scenes [0, 2) and [2, 5)
    scenes = [
        Scene(index=0, start=0.0, end=2.0, start_frame=0, end_frame=50),
        Scene(index=1, start=2.0, end=5.0, start_frame=50, end_frame=125),
    ]
    # When times are looked up / Then each lands in its scene, a cut instant in the later one
    assert [scene_at(scenes, at) for at in (0.0, 1.99, 2.0, 4.9, 5.0)] == [0, 0, 1, 1, 1]
    assert scene_at([], 1.0) is None
