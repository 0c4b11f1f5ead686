"""Grouping scenes into storylines: clustering, names, relevance and the edge cases, without the model.

Where text is involved a bag-of-words embedder stands in for all-MiniLM-L6-v2 (same ``encode``
interface); tests/integration/test_storylines_model.py runs the real model.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reelstep.errors import ModelUnavailable
from reelstep.models.media import FrameCaption, Scene, SceneVisual, Segment
from reelstep.steps.storylines import (
    STOPWORDS,
    SceneEvidence,
    TextEmbedder,
    agglomerate,
    build_storylines,
    gather_evidence,
    keywords,
    resolve_model,
)

BARS = [0.125] * 24
"""A flat colour histogram: 8 bins per channel, each channel summing to 1."""
RED = [0.0] * 7 + [1.0] + [1.0] + [0.0] * 7 + [1.0] + [0.0] * 7
"""Bright red everywhere: red in its top bin, green and blue in their bottom bins."""


class BagOfWords:
    """A stand-in sentence encoder: one dimension per content word (CRC-32 hashed), rows of unit length."""

    def encode(self, texts: Sequence[str], **_: Any) -> np.ndarray:
        rows = np.zeros((len(texts), 4096))
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                if word not in STOPWORDS:
                    rows[row, zlib.crc32(word.encode()) % 4096] += 1
        return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


EMBEDDER = TextEmbedder(name="bag-of-words", model=BagOfWords())


def scene(index: int, start: float, end: float, histogram: list[float] | None = None) -> Scene:
    visual = (
        SceneVisual(histogram=histogram, motion=0.1, brightness=0.5, keyframe_time=start)
        if histogram is not None
        else None
    )
    return Scene(
        index=index,
        start=start,
        end=end,
        start_frame=round(start * 25),
        end_frame=round(end * 25),
        visual=visual,
    )


def spoken(texts: Sequence[str], seconds: float = 4.0) -> tuple[list[Scene], list[Segment]]:
    scenes = [scene(i, i * seconds, (i + 1) * seconds) for i in range(len(texts))]
    segments = [
        Segment(start=i * seconds + 0.5, end=(i + 1) * seconds - 0.5, text=text)
        for i, text in enumerate(texts)
    ]
    return scenes, segments


def members(result: Any) -> list[list[str]]:
    return [[entry.scene_id for entry in storyline.scenes] for storyline in result.storylines]


def naive_average_linkage(similarity: np.ndarray, groups: int) -> list[frozenset[int]]:
    """The textbook O(n^3) algorithm: merge the pair of clusters with the highest mean similarity."""
    clusters = [frozenset([i]) for i in range(len(similarity))]
    while len(clusters) > groups:
        pairs = itertools.combinations(range(len(clusters)), 2)
        a, b = max(
            pairs,
            key=lambda pair: np.mean(
                [similarity[i, j] for i in clusters[pair[0]] for j in clusters[pair[1]]]
            ),
        )
        clusters = [c for k, c in enumerate(clusters) if k not in (a, b)] + [clusters[a] | clusters[b]]
    return clusters


@pytest.mark.parametrize("seed", range(6))
def test_agglomeration_gives_the_partition_of_textbook_average_linkage(seed: int) -> None:
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(14, 5))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    similarity = points @ points.T
    for groups in (1, 2, 3, 5):
        labels = agglomerate(similarity, groups)
        found = {frozenset(i for i, label in enumerate(labels) if label == value) for value in set(labels)}
        assert found == set(naive_average_linkage(similarity, groups))


def test_agglomeration_into_as_many_groups_as_rows_changes_nothing() -> None:
    assert agglomerate(np.eye(3), 3) == [0, 1, 2]
    assert agglomerate(np.eye(2), 5) == [0, 1]


def test_keywords_prefer_words_that_tell_a_storyline_apart() -> None:
    documents = [
        "The chef said the pasta needs garlic. The pasta is the chef's pride.",
        "The chef said the striker missed. The goal was open.",
    ]
    first, second = keywords(documents)
    assert first[0] == "pasta"
    assert "the" not in first + second and "said" not in first + second
    assert second[0] in {"striker", "missed", "goal", "open"}


def test_scenes_on_one_subject_share_a_storyline_even_apart_in_time() -> None:
    # Given four scenes alternating between cooking and football talk
    scenes, segments = spoken(
        [
            "boil pasta water salt pasta",
            "striker goal referee goal match",
            "pasta sauce garlic boil pasta",
            "referee match striker goal penalty",
        ]
    )
    # When grouped into two storylines
    result = build_storylines(gather_evidence(scenes, segments), 2, EMBEDDER)
    # Then each subject is one storyline, named by its words, in order of first appearance
    assert members(result) == [["scene-1", "scene-3"], ["scene-2", "scene-4"]]
    assert result.storylines[0].name.lower().startswith("pasta")
    assert "goal" in result.storylines[1].name.lower()
    assert result.signals == ["transcript"] and result.model == "bag-of-words"
    first = result.storylines[0]
    assert (first.id, first.start, first.end, first.duration) == ("storyline-1", 0.0, 12.0, 8.0)
    assert all(0.0 <= entry.relevance <= 1.0 for entry in first.scenes)
    assert first.description.startswith("2 scenes, 8.0 s between 0:00 and 0:12, grouped by what is said")


def test_without_a_transcript_scenes_are_grouped_by_how_they_look() -> None:
    # Given red and grey scenes alternating, and nothing said
    scenes = [scene(i, i * 2.0, i * 2.0 + 2.0, RED if i % 2 else BARS) for i in range(6)]
    # When grouped with no text model at all
    result = build_storylines(gather_evidence(scenes), 2, None)
    # Then the look decides, and the names say so
    assert members(result) == [["scene-1", "scene-3", "scene-5"], ["scene-2", "scene-4", "scene-6"]]
    assert [storyline.name for storyline in result.storylines] == ["Visual sequence 1", "Visual sequence 2"]
    assert result.signals == ["visual"] and result.model is None
    assert "grouped by colour" in result.storylines[0].description


def test_fewer_scenes_than_storylines_gives_one_storyline_per_scene() -> None:
    scenes, segments = spoken(["pasta with garlic", "a goal in the last minute"])
    result = build_storylines(gather_evidence(scenes, segments), 3, EMBEDDER)
    assert members(result) == [["scene-1"], ["scene-2"]]
    assert [storyline.scenes[0].relevance for storyline in result.storylines] == [1.0, 1.0]


def test_one_scene_is_one_storyline() -> None:
    result = build_storylines(gather_evidence([scene(0, 0.0, 0.8, BARS)]), 3, None)
    assert members(result) == [["scene-1"]]
    assert result.storylines[0].description.startswith("1 scene, 0.8 s between 0:00 and 0:00")


def test_a_scene_with_nothing_to_go_by_joins_its_nearest_neighbour_in_time() -> None:
    # Given a silent scene without visual features between two talking scenes
    scenes, segments = spoken(["pasta boil water", "", "goal striker referee"])
    scenes = [scenes[0], scenes[1], scenes[2]]
    segments = [segments[0], segments[2]]
    # When grouped into two storylines
    result = build_storylines(gather_evidence(scenes, segments), 2, EMBEDDER)
    # Then it joins the earlier of its equally near neighbours, with relevance 0
    assert members(result) == [["scene-1", "scene-2"], ["scene-3"]]
    assert result.storylines[0].scenes[1].relevance == 0.0


def test_nothing_to_group_by_gives_no_storylines() -> None:
    result = build_storylines(gather_evidence([scene(0, 0.0, 2.0), scene(1, 2.0, 4.0)]), 3, None)
    assert result.storylines == [] and result.signals == []


def test_text_without_a_model_is_refused_rather_than_ignored() -> None:
    scenes, segments = spoken(["pasta", "goal"])
    with pytest.raises(ModelUnavailable):
        build_storylines(gather_evidence(scenes, segments), 2, None)


def test_captions_count_as_text_and_speech_outweighs_colour() -> None:
    # Given cooking talk over grey and red shots alike, and captions of kitchens and stadiums
    scenes = [scene(i, i * 3.0, i * 3.0 + 3.0, RED if i < 2 else BARS) for i in range(4)]
    segments = [
        Segment(start=0.5, end=2.5, text="boil the pasta water"),
        Segment(start=3.5, end=5.5, text="goal for the striker"),
        Segment(start=6.5, end=8.5, text="pasta sauce and garlic"),
        Segment(start=9.5, end=11.5, text="the striker and the referee"),
    ]
    captions = [
        FrameCaption(file=f"frames/{i}.jpg", time=i * 3.0 + 1, scene_index=i, caption=text)
        for i, text in enumerate(
            ["a kitchen stove", "a football stadium", "a kitchen table", "a stadium crowd"]
        )
    ]
    # When grouped into two
    result = build_storylines(gather_evidence(scenes, segments, captions), 2, EMBEDDER)
    # Then words and captions win over the colour, which would pair scenes 1-2 and 3-4
    assert members(result) == [["scene-1", "scene-3"], ["scene-2", "scene-4"]]
    assert result.signals == ["transcript", "caption", "visual"]


def test_the_same_scenes_give_the_same_storylines_whatever_their_order() -> None:
    scenes, segments = spoken(["pasta garlic", "goal striker", "sauce pasta", "penalty goal", "weather rain"])
    first = build_storylines(gather_evidence(scenes, segments), 3, EMBEDDER)
    again = build_storylines(gather_evidence(scenes[::-1], segments[::-1]), 3, EMBEDDER)
    assert first.model_dump_json() == again.model_dump_json()


def test_evidence_places_segments_by_midpoint_and_captions_by_scene() -> None:
    scenes = [scene(0, 0.0, 4.0), scene(1, 4.0, 8.0)]
    segments = [Segment(start=3.0, end=7.0, text=" across "), Segment(start=1.0, end=2.0, text="  ")]
    captions = [FrameCaption(file="frames/1.jpg", time=5.0, scene_index=1, caption="a dog")]
    first, second = gather_evidence(scenes, segments, captions)
    assert first == SceneEvidence(scene=scenes[0])
    assert (second.transcript, second.captions, second.text) == (("across",), ("a dog",), "across a dog")


def test_a_model_folder_that_does_not_exist_makes_the_model_unavailable(tmp_path: Path) -> None:
    missing = tmp_path / "no-model-here"
    with pytest.raises(ModelUnavailable, match=r"no model folder at .*no-model-here"):
        resolve_model(str(missing))
