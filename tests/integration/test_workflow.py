"""The real analyze.asl.json on the local executor with the real handlers: success and failure paths."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest

from media_factory import make_cut_video
from reelstep.adapters.lambda_process import LocalLambdaContext
from reelstep.adapters.local_orchestrator import LocalOrchestrator
from reelstep.backend import Backend
from reelstep.errors import InvalidInput, MediaToolError
from reelstep.models import AnalyzeOptions, JobRecord, Source, StepName
from reelstep.pipeline import job_key, new_job_record
from reelstep.steps import audio, chunks

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("workflow")
    return make_cut_video(
        folder / "two-shots.mp4",
        segments=[("testsrc2", 2.0), ("smptebars", 2.0)],
        size=(320, 240),
        audio="sine",
    )


def run_job(
    backend: Backend, video: Path, orchestrator: LocalOrchestrator | None = None, **options: object
) -> JobRecord:
    orchestrator = orchestrator or LocalOrchestrator(ROOT)
    job_id = f"job-{time.monotonic_ns()}"
    backend.jobs.create(
        new_job_record(
            job_id, source=Source(kind="path", location=str(video)), options=AnalyzeOptions(**options)
        )
    )
    execution = orchestrator.start(job_id, {"job_id": job_id})
    orchestrator.wait(execution, timeout=240)
    return backend.jobs.get(job_id)


def in_this_process(orchestrator: LocalOrchestrator, logical_id: str) -> LocalOrchestrator:
    """Run ``logical_id`` in the test's own process, so a monkeypatched step reaches it."""
    functions = orchestrator.machine.functions
    for arn, function in list(functions.items()):
        if function.logical_id == logical_id:
            functions[arn] = dataclasses.replace(function, own_process=False)
    return orchestrator


def stored_result(backend: Backend, job_id: str) -> dict[str, object]:
    document: dict[str, object] = json.loads(backend.blobs.get_bytes(job_key(job_id, "result.json")))
    return document


def test_a_job_succeeds_with_every_step_recorded(backend: Backend, video: Path) -> None:
    picture_and_sound = [StepName.SCENES, StepName.KEYFRAMES, StepName.AUDIO]
    record = run_job(backend, video, steps=[*picture_and_sound, StepName.AUDIO_FEATURES, StepName.STORYLINES])
    assert record.status == "succeeded"
    assert record.progress == 1.0
    assert {name: report.status for name, report in record.steps.items()} == {
        "ingest": "succeeded",
        "probe": "succeeded",
        "scenes": "succeeded",
        "keyframes": "succeeded",
        "caption": "skipped",
        "audio": "succeeded",
        "transcribe": "skipped",
        "audio_features": "succeeded",
        "storylines": "succeeded",
        "render": "skipped",
        "finalize": "succeeded",
    }
    assert all(report.seconds is not None for report in record.steps.values() if report.status == "succeeded")
    result = stored_result(backend, record.job_id)
    assert result["status"] == "succeeded"
    assert all(scene["audio"]["spectral_centroid"] for scene in result["scenes"])  # type: ignore[union-attr,index]
    assert result["storylines"]


def test_a_failing_lambda_step_fails_the_job_with_its_step_and_reason(
    backend: Backend, video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given scene detection that fails the way ffmpeg failures surface
    def broken(*args: object, **kwargs: object) -> None:
        raise MediaToolError("ffmpeg failed: corrupt frame at 1.2 s")

    monkeypatch.setattr(chunks, "analyse_chunk", broken)
    # When the job runs
    orchestrator = in_this_process(LocalOrchestrator(ROOT), "AnalyzeChunkFunction")
    record = run_job(backend, video, orchestrator, steps=[StepName.SCENES])
    # Then it fails at scenes with that reason, and what probe stored is kept
    assert record.status == "failed"
    assert record.error is not None
    assert (record.error.step, record.error.type) == ("scenes", "MediaToolError")
    assert "corrupt frame" in record.error.message
    assert backend.blobs.exists(job_key(record.job_id, "media.json"))
    result = stored_result(backend, record.job_id)
    assert result["status"] == "failed"
    assert result["media"] is not None


def test_a_failing_gpu_job_fails_the_job_at_transcribe(
    backend: Backend, video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an audio step that stores garbage instead of a WAV, so the Batch worker cannot decode it
    def garbage(source: Path, destination: Path, *, timeout: float) -> Path:
        destination.write_bytes(b"this is not a wav file" * 100)
        return destination

    monkeypatch.setattr(audio, "extract_audio", garbage)
    # When the job runs
    record = run_job(backend, video, steps=[StepName.TRANSCRIBE])
    # Then the worker's exit fails the job at transcribe with the worker's reason
    assert record.status == "failed"
    assert record.error is not None
    assert record.error.step == "transcribe"
    assert record.error.type == "States.TaskFailed"


def test_a_lambda_that_times_out_fails_the_job(
    backend: Backend, video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given scene detection slower than its function's timeout
    orchestrator = in_this_process(LocalOrchestrator(ROOT), "AnalyzeChunkFunction")
    functions = orchestrator.machine.functions
    for arn, function in list(functions.items()):
        if function.logical_id == "AnalyzeChunkFunction":
            functions[arn] = dataclasses.replace(function, timeout=0.5)
    monkeypatch.setattr(chunks, "analyse_chunk", lambda *args, **kwargs: time.sleep(3))
    # When the job runs
    record = run_job(backend, video, orchestrator, steps=[StepName.SCENES])
    # Then it fails with a timeout naming the function, instead of hanging
    assert record.status == "failed"
    assert record.error is not None
    assert record.error.type == "States.Timeout"
    assert "AnalyzeChunkFunction timed out" in record.error.message


def test_an_unavailable_model_skips_transcription_and_the_job_succeeds(
    backend: Backend, video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REELSTEP_WHISPER_MODEL", "/nonexistent/whisper-model")
    record = run_job(backend, video, steps=[StepName.TRANSCRIBE])
    assert record.status == "succeeded"
    transcribe = record.steps["transcribe"]
    assert transcribe.status == "skipped"
    assert transcribe.reason and "/nonexistent/whisper-model" in transcribe.reason


def test_a_malformed_event_fails_fast_naming_the_field(backend: Backend) -> None:
    from importlib import util

    spec = util.spec_from_file_location("probe_app", ROOT / "functions" / "probe" / "app.py")
    assert spec is not None and spec.loader is not None
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    context = LocalLambdaContext(function_name="ProbeMediaFunction", invoked_function_arn="local", timeout=5)
    with pytest.raises(InvalidInput, match="job_id"):
        module.handler({"job_id": "", "input_key": "jobs/x/input/a.mp4"}, context, backend=backend)
    with pytest.raises(InvalidInput, match="surprise: Extra inputs are not permitted"):
        module.handler({"job_id": "x", "surprise": 1}, context, backend=backend)
