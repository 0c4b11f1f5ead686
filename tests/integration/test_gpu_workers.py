"""The GPU workers as the job definitions run them: subprocesses of the local executor, and by hand.

Success and failure both go through the real analyze.asl.json: a worker that fails ends the job
``failed`` with the reason, never ``running``; a malformed argument fails fast, naming the option.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from media_factory import make_cut_video
from reelstep.adapters.local_orchestrator import LocalOrchestrator
from reelstep.backend import Backend
from reelstep.models import (
    AnalyzeOptions,
    Captions,
    JobRecord,
    KeyframeOptions,
    MediaInfo,
    Source,
    StepName,
)
from reelstep.pipeline import job_key, new_job_record
from reelstep.pipeline.common import CAPTIONS_JSON, PREVIEW_MP4, RESULT_JSON
from reelstep.steps import probe
from tiny_captioner import build_tiny_blip

ROOT = Path(__file__).resolve().parents[2]
WORKERS = ("transcribe", "caption", "render")


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 2 s shots, the third the same picture as the first, with a tone."""
    return make_cut_video(
        tmp_path_factory.mktemp("workers") / "a-b-a.mp4",
        segments=[("smptebars", 2.0), ("rgbtestsrc", 2.0), ("smptebars", 2.0)],
        size=(320, 240),
        audio="sine",
    )


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    return build_tiny_blip(tmp_path_factory.mktemp("models") / "tiny-blip")


def worker(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a worker as its job definition does: ``python -m gpu_workers.<name>`` from the project root."""
    return subprocess.run(
        [sys.executable, "-m", f"gpu_workers.{name}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        check=False,
    )


def last_line(completed: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in completed.stderr, completed.stderr
    return completed.stderr.strip().splitlines()[-1]


def create_job(backend: Backend, **options: object) -> str:
    job_id = f"job-{time.monotonic_ns()}"
    source = Source(kind="path", location="/in.mp4")
    backend.jobs.create(new_job_record(job_id, source=source, options=AnalyzeOptions(**options)))
    return job_id


def run_job(
    backend: Backend, video: Path, orchestrator: LocalOrchestrator | None = None, **options: object
) -> JobRecord:
    orchestrator = orchestrator or LocalOrchestrator(ROOT)
    job_id = f"job-{time.monotonic_ns()}"
    backend.jobs.create(
        new_job_record(
            job_id,
            source=Source(kind="path", location=str(video)),
            options=AnalyzeOptions(**options),
        )
    )
    execution = orchestrator.start(job_id, {"job_id": job_id})
    orchestrator.wait(execution, timeout=240)
    return backend.jobs.get(job_id)


def with_command(
    orchestrator: LocalOrchestrator, logical_id: str, *extra: str, job_id: str | None = None
) -> None:
    """Change one job definition's command as a mistaken template would: another --job-id, more options."""
    definitions = orchestrator.machine.job_definitions
    for arn, definition in list(definitions.items()):
        if definition.logical_id == logical_id:
            command = list(definition.command)
            if job_id is not None:
                command[command.index("--job-id") + 1] = job_id
            definitions[arn] = dataclasses.replace(definition, command=[*command, *extra])


def statuses(record: JobRecord) -> dict[str, str]:
    return {name: report.status for name, report in record.steps.items()}


# ----------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("name", WORKERS)
def test_an_unfilled_placeholder_fails_fast_naming_the_option(name: str, reelstep_home: Path) -> None:
    completed = worker(name, "--job-id", "Ref::job_id")
    assert completed.returncode == 2
    line = last_line(completed)
    assert line.startswith(f"{name} failed: --job-id 'Ref::job_id'")
    assert "placeholder left unfilled" in line and "Parameters.job_id" in line
    assert not reelstep_home.exists()


@pytest.mark.parametrize(
    "job_id", ["", "has space", "../../etc", "x" * 81], ids=["empty", "space", "path", "long"]
)
def test_a_malformed_job_id_fails_fast_naming_the_option(job_id: str, reelstep_home: Path) -> None:
    completed = worker("caption", "--job-id", job_id)
    assert completed.returncode == 2
    assert last_line(completed).startswith(f"caption failed: --job-id {job_id!r}: ")
    assert not reelstep_home.exists(), "a malformed argument must stop the worker before any store is opened"


def test_a_missing_job_id_is_refused_by_name(reelstep_home: Path) -> None:
    completed = worker("render")
    assert completed.returncode == 2
    assert "--job-id" in last_line(completed)


def test_an_input_key_of_another_job_fails_and_is_recorded_on_the_step(backend: Backend) -> None:
    # Given a job, and a worker pointed at another job's input
    job_id = create_job(backend)
    # When the worker starts
    completed = worker("render", "--job-id", job_id, "--input-key", "jobs/someone-else/input/a.mp4")
    # Then it stops at once, naming the option, and the job's render step carries the reason
    assert completed.returncode == 2
    assert "--input-key 'jobs/someone-else/input/a.mp4': not an input of job" in last_line(completed)
    report = backend.jobs.get(job_id).steps[StepName.RENDER.value]
    assert report.status == "failed"
    assert report.reason is not None and "--input-key" in report.reason


def test_a_worker_for_an_unknown_job_fails_with_one_line(reelstep_home: Path) -> None:
    completed = worker("caption", "--job-id", "no-such-job")
    assert completed.returncode == 1
    assert "no-such-job" in last_line(completed)


def test_a_render_without_a_stored_input_fails_and_says_so_on_the_job(backend: Backend) -> None:
    # Given a job that was never ingested
    job_id = create_job(backend, steps=[StepName.RENDER])
    # When the render worker runs for it
    completed = worker("render", "--job-id", job_id)
    # Then it exits 1 with the reason, and the job record's render step has it too
    assert completed.returncode == 1
    assert last_line(completed) == (
        f"render failed: job {job_id} should have one stored input under jobs/{job_id}/input/, found nothing"
    )
    report = backend.jobs.get(job_id).steps[StepName.RENDER.value]
    assert (report.status, report.reason) == ("failed", last_line(completed).removeprefix("render failed: "))


# ----------------------------------------------------------------------------- through the state machine


def test_captions_run_as_a_batch_job_and_reach_the_result(
    backend: Backend, video: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the tiny model as the configured captioning model, and shots A, B, A
    monkeypatch.setenv("REELSTEP_CAPTION_MODEL", str(tiny_model))
    # When captions are asked for, with one keyframe per scene
    record = run_job(backend, video, steps=[StepName.CAPTION], keyframes=KeyframeOptions(mode="scene"))
    # Then the job succeeds with scenes and keyframes pulled in, and every scene has its caption
    assert record.status == "succeeded", record.error
    assert {name: statuses(record)[name] for name in ("scenes", "keyframes", "caption", "render")} == {
        "scenes": "succeeded",
        "keyframes": "succeeded",
        "caption": "succeeded",
        "render": "skipped",
    }
    result = json.loads(backend.blobs.get_bytes(job_key(record.job_id, RESULT_JSON)))
    assert len(result["scenes"]) == 3
    assert all(isinstance(scene["caption"], str) for scene in result["scenes"])
    assert [frame["caption"] for frame in result["keyframes"]] == [
        scene["caption"] for scene in result["scenes"]
    ]
    # And the third shot, the first one again, reused its caption rather than running the model
    captions = Captions.model_validate_json(backend.blobs.get_bytes(job_key(record.job_id, CAPTIONS_JSON)))
    assert [frame.duplicate_of for frame in captions.frames] == [None, None, captions.frames[0].file]


def test_a_preview_is_rendered_as_a_batch_job_when_asked_for(
    backend: Backend, video: Path, tmp_path: Path
) -> None:
    record = run_job(backend, video, steps=[StepName.RENDER])
    assert record.status == "succeeded", record.error
    assert statuses(record)["render"] == "succeeded"
    result = json.loads(backend.blobs.get_bytes(job_key(record.job_id, RESULT_JSON)))
    assert result["preview"] == PREVIEW_MP4
    preview = backend.blobs.download(job_key(record.job_id, PREVIEW_MP4), tmp_path / PREVIEW_MP4)
    media: MediaInfo = probe.probe_media(preview, timeout=30)
    assert (media.video_codec, media.width, media.height, media.audio_codec) == ("h264", 320, 240, "aac")


def test_a_failing_caption_worker_fails_the_job_with_its_reason(
    backend: Backend, video: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a caption model folder that is there but broken
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "no-such-architecture"}')
    monkeypatch.setenv("REELSTEP_CAPTION_MODEL", str(broken))
    # When a job with captions runs
    record = run_job(backend, video, steps=[StepName.CAPTION])
    # Then the job ends failed at caption with the worker's reason, and nothing is left running
    assert record.status == "failed"
    assert record.error is not None
    assert (record.error.step, record.error.type) == ("caption", "States.TaskFailed")
    assert "broken-model" in record.error.message and "does not load" in record.error.message
    assert "running" not in statuses(record).values()
    assert json.loads(backend.blobs.get_bytes(job_key(record.job_id, RESULT_JSON)))["status"] == "failed"


def test_a_malformed_job_id_fails_the_job_with_the_workers_line(backend: Backend, video: Path) -> None:
    # Given a render job definition whose command passes a malformed job id (the worker cannot reach the job)
    orchestrator = LocalOrchestrator(ROOT)
    with_command(orchestrator, "RenderJobDefinition", job_id="not a job id!")
    # When a job with a preview runs
    record = run_job(backend, video, orchestrator, steps=[StepName.RENDER])
    # Then Record Failure marks it failed with the last line the worker wrote to stderr
    assert record.status == "failed"
    assert record.error is not None
    assert record.error.type == "States.TaskFailed"
    assert record.error.message.startswith("render failed: --job-id 'not a job id!': ")
    assert "running" not in statuses(record).values()


def test_a_bad_parameter_for_an_existing_job_fails_it_at_that_step(backend: Backend, video: Path) -> None:
    # Given a render command that names another job's input
    orchestrator = LocalOrchestrator(ROOT)
    with_command(orchestrator, "RenderJobDefinition", "--input-key", "jobs/other/input/x.mp4")
    # When a job with a preview runs
    record = run_job(backend, video, orchestrator, steps=[StepName.RENDER])
    # Then the worker recorded the reason on the step, and the job fails there with it
    assert record.status == "failed"
    assert record.error is not None
    assert record.error.step == "render"
    assert "--input-key 'jobs/other/input/x.mp4': not an input of job" in record.error.message
