"""Awkward inputs through the whole picture analysis (chunked Map, merge, scene keyframes) on the local
executor: each finishes with sensible scenes and keyframes, never a crashed job."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from media_factory import (
    corrupt_middle,
    make_cut_video,
    make_odd_size_video,
    make_rotated_copy,
    make_variable_rate_video,
)
from reelstep.adapters.local_orchestrator import LocalOrchestrator
from reelstep.backend import Backend, get_backend
from reelstep.models import AnalyzeOptions, KeyframeOptions, Source, StepName
from reelstep.pipeline import job_key, new_job_record
from reelstep.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]


def _rotated(folder: Path) -> Path:
    return make_rotated_copy(
        make_cut_video(folder / "upright.mp4", [("testsrc2", 1.5), ("smptebars", 1.5)]),
        folder / "rotated.mp4",
    )


def _corrupt(folder: Path) -> Path:
    shots = [("testsrc2", 2.0), ("smptebars", 2.0), ("mandelbrot", 2.0)]
    return corrupt_middle(make_cut_video(folder / "whole.mp4", shots), folder / "corrupt.mp4")


CASES: dict[str, tuple[Callable[[Path], Path], int]] = {
    # name: (how to make it, how many scenes it has)
    "variable frame rate": (lambda folder: make_variable_rate_video(folder / "vfr.mp4"), 2),
    "rotated": (_rotated, 2),
    "odd dimensions": (lambda folder: make_odd_size_video(folder / "odd.mp4"), 2),
    "corrupt frame in the middle": (_corrupt, 3),
    "shorter than a second": (lambda folder: make_cut_video(folder / "short.mp4", [("testsrc2", 0.4)]), 1),
    "4K": (
        lambda folder: make_cut_video(
            folder / "4k.mp4", [("testsrc2", 1.0), ("smptebars", 1.0)], size=(3840, 2160)
        ),
        2,
    ),
}


@pytest.fixture
def small_chunks_backend(reelstep_home: Path, monkeypatch: pytest.MonkeyPatch) -> Backend:
    """One-second analysis chunks, so even these short inputs go through the Map and the merge."""
    monkeypatch.setenv("REELSTEP_CHUNK_SECONDS", "1")
    get_settings.cache_clear()
    get_backend.cache_clear()
    return get_backend()


@pytest.mark.parametrize("case", list(CASES))
def test_awkward_video_finishes_with_scenes_and_keyframes(
    case: str, small_chunks_backend: Backend, tmp_path: Path
) -> None:
    # Given an awkward input
    make, scene_count = CASES[case]
    video = make(tmp_path)
    backend = small_chunks_backend
    job = f"bad-{time.monotonic_ns()}"
    options = AnalyzeOptions(
        steps=[StepName.SCENES, StepName.KEYFRAMES], keyframes=KeyframeOptions(mode="scene")
    )
    backend.jobs.create(new_job_record(job, source=Source(kind="path", location=str(video)), options=options))
    # When its picture is analysed by the real state machine
    orchestrator = LocalOrchestrator(ROOT)
    orchestrator.wait(orchestrator.start(job, {"job_id": job}), timeout=300)
    record = backend.jobs.get(job)
    # Then the job succeeds, its scenes cover the whole video, and each scene has its keyframe
    assert record.status == "succeeded", (record.error, record.steps)
    result = json.loads(backend.blobs.get_bytes(job_key(job, "result.json")))
    scenes = result["scenes"]
    assert len(scenes) == scene_count
    assert scenes[0]["start"] == 0 and scenes[-1]["end"] == pytest.approx(result["media"]["duration"])
    assert all(scene["visual"] is not None for scene in scenes)
    assert len(result["keyframes"]) == scene_count
    for keyframe in result["keyframes"]:
        assert backend.blobs.exists(job_key(job, keyframe["file"]))
