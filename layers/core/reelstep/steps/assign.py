"""Placing transcript segments (and any timed item) in the scenes they fall in, by time alone.

Transcription runs once per video and scene detection separately, so they meet here, in finalize.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from reelstep.models.media import Scene, Segment


def _ordered(scenes: Sequence[Scene]) -> list[Scene]:
    return sorted(scenes, key=lambda scene: (scene.start, scene.end))


def _find(time: float, ordered: Sequence[Scene]) -> Scene | None:
    """The scene whose half-open span [start, end) holds ``time``; the last scene also holds its end."""
    position = bisect_right([scene.start for scene in ordered], time) - 1
    if position < 0:
        return None
    scene = ordered[position]
    if time < scene.end or (position == len(ordered) - 1 and time == scene.end):
        return scene
    return None


def scene_index_at(time: float, scenes: Sequence[Scene]) -> int | None:
    """The index of the scene playing at ``time`` (seconds), or None before, after or between scenes.

    Spans are half-open, so a time on a cut belongs to the scene that starts there.
    """
    scene = _find(time, _ordered(scenes))
    return scene.index if scene is not None else None


def _largest_overlap(start: float, end: float, ordered: Sequence[Scene]) -> Scene | None:
    best: Scene | None = None
    best_overlap = 0.0
    for scene in ordered:
        overlap = min(end, scene.end) - max(start, scene.start)
        if overlap > best_overlap:
            best, best_overlap = scene, overlap
    return best


def assign_segments(segments: Sequence[Segment], scenes: Sequence[Scene]) -> list[Segment]:
    """Copies of ``segments`` with scene_id, start_in_scene and end_in_scene filled in.

    A segment belongs to the scene holding its midpoint: a sentence spoken across a cut goes where
    most of it is heard, and the rule is cheap and deterministic (a midpoint on the cut goes to the
    later scene). Only when the midpoint falls outside every scene (a gap, or audio running past the
    last frame) does the scene with the largest overlap win; with no overlap the segment stays
    unplaced. Times in the scene are relative to the scene's start and never negative; end_in_scene
    may exceed the scene's length when the segment runs past the cut. With no scenes the segments
    are returned unchanged.
    """
    if not scenes:
        return list(segments)
    ordered = _ordered(scenes)
    placed: list[Segment] = []
    for segment in segments:
        scene = _find((segment.start + segment.end) / 2, ordered)
        if scene is None:
            scene = _largest_overlap(segment.start, segment.end, ordered)
        if scene is None:
            update: dict[str, object] = {"scene_id": None, "start_in_scene": None, "end_in_scene": None}
        else:
            update = {
                "scene_id": scene.id,
                "start_in_scene": round(max(0.0, segment.start - scene.start), 3),
                "end_in_scene": round(max(0.0, segment.end - scene.start), 3),
            }
        placed.append(segment.model_copy(update=update))
    return placed
