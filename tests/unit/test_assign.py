"""Placing transcript segments in scenes by time."""

from __future__ import annotations

from reelstep.models.media import Scene, Segment, Word
from reelstep.steps.assign import assign_segments, scene_index_at

FPS = 25


def _scene(index: int, start: float, end: float) -> Scene:
    return Scene(
        index=index, start=start, end=end, start_frame=round(start * FPS), end_frame=round(end * FPS)
    )


SCENES = [_scene(0, 0.0, 4.0), _scene(1, 4.0, 10.0), _scene(2, 10.0, 12.5)]


def test_scene_index_at_uses_half_open_spans() -> None:
    # Given three contiguous scenes
    # When asking which scene plays at various times
    # Then a time on a cut belongs to the later scene, and the last scene holds its own end
    assert scene_index_at(0.0, SCENES) == 0
    assert scene_index_at(3.999, SCENES) == 0
    assert scene_index_at(4.0, SCENES) == 1
    assert scene_index_at(12.5, SCENES) == 2


def test_scene_index_at_outside_or_between_scenes_is_none() -> None:
    # Given scenes with a gap between them and nothing before 1 s
    scenes = [_scene(0, 1.0, 2.0), _scene(1, 3.0, 4.0)]
    # When asking about times outside every scene
    # Then there is no scene
    assert scene_index_at(0.5, scenes) is None
    assert scene_index_at(2.5, scenes) is None
    assert scene_index_at(4.01, scenes) is None
    assert scene_index_at(1.0, []) is None


def test_scene_index_at_does_not_need_sorted_scenes() -> None:
    # Given scenes listed out of order
    shuffled = [SCENES[2], SCENES[0], SCENES[1]]
    # When looking up a time
    # Then the answer is the same as for sorted scenes
    assert scene_index_at(5.0, shuffled) == 1


def test_segment_goes_to_the_scene_holding_its_midpoint() -> None:
    # Given a segment that starts in scene 0 but is mostly spoken in scene 1
    segment = Segment(
        start=3.5,
        end=6.5,
        text="across the cut",
        words=[Word(start=3.5, end=4.0, word="across", probability=0.9)],
    )
    # When assigned
    [placed] = assign_segments([segment], SCENES)
    # Then it belongs to scene 1, timed from that scene's start, clamped at zero, words untouched
    assert placed.scene_id == "scene-2"
    assert placed.start_in_scene == 0.0
    assert placed.end_in_scene == 2.5
    assert placed.words == segment.words
    assert placed.text == "across the cut"


def test_segment_within_a_scene_gets_relative_times_in_milliseconds() -> None:
    # Given a segment inside the last scene
    segment = Segment(start=10.1234, end=11.0, text="inside")
    # When assigned
    [placed] = assign_segments([segment], SCENES)
    # Then its times are relative to the scene's start and rounded to milliseconds
    assert (placed.scene_id, placed.start_in_scene, placed.end_in_scene) == ("scene-3", 0.123, 1.0)


def test_midpoint_in_a_gap_falls_back_to_largest_overlap() -> None:
    # Given scenes with a gap and a segment whose midpoint is in the gap but overlaps scene 1 more
    scenes = [_scene(0, 0.0, 2.0), _scene(1, 3.0, 6.0)]
    segment = Segment(start=1.8, end=3.5, text="gap")
    # When assigned
    [placed] = assign_segments([segment], scenes)
    # Then the scene it overlaps most wins
    assert placed.scene_id == "scene-2"
    assert placed.start_in_scene == 0.0
    assert placed.end_in_scene == 0.5


def test_segment_after_the_last_scene_is_left_unplaced() -> None:
    # Given audio that runs past the last frame, with a stale placement from before
    segment = Segment(
        start=20.0, end=21.0, text="after", scene_id="scene-1", start_in_scene=1.0, end_in_scene=2.0
    )
    # When assigned
    [placed] = assign_segments([segment], SCENES)
    # Then it has no scene and no scene-relative times
    assert (placed.scene_id, placed.start_in_scene, placed.end_in_scene) == (None, None, None)


def test_no_scenes_leaves_segments_unchanged() -> None:
    # Given segments and no scenes
    segments = [Segment(start=0.0, end=1.0, text="a"), Segment(start=1.0, end=2.0, text="b")]
    # When assigned
    placed = assign_segments(segments, [])
    # Then they come back as they were, in a new list
    assert placed == segments
    assert placed is not segments


def test_assignment_keeps_order_and_does_not_mutate_input() -> None:
    # Given several segments across all scenes
    segments = [Segment(start=s, end=s + 1.0, text=str(s)) for s in (0.0, 5.0, 11.0)]
    # When assigned
    placed = assign_segments(segments, SCENES)
    # Then each lands in its own scene, in order, and the originals are untouched
    assert [p.scene_id for p in placed] == ["scene-1", "scene-2", "scene-3"]
    assert all(s.scene_id is None for s in segments)
