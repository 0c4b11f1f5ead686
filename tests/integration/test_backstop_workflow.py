"""No job is left running: when the real workflow ends outside its own Catch, the backstop fails the job.

analyze.asl.json runs on the local executor with the real handlers. When its Catch target fails too,
or someone stops the execution, the execution ends with the job still ``running``; Step Functions'
"Execution Status Change" event for it, fed to the ExecutionFailedFunction handler, ends the job.
"""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from typing import Any

import pytest

from media_factory import make_cut_video
from reelstep.adapters.lambda_process import LocalLambdaContext
from reelstep.adapters.local_orchestrator import LocalOrchestrator
from reelstep.backend import Backend
from reelstep.errors import MediaToolError
from reelstep.models import AnalyzeOptions, Source
from reelstep.pipeline import finalize, new_job_record
from reelstep.ports import ExecutionInfo
from reelstep.steps import probe

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_cut_video(
        tmp_path_factory.mktemp("backstop") / "clip.mp4",
        segments=[("testsrc2", 1.0)],
        size=(160, 120),
        audio="sine",
    )


def status_change(job_id: str, info: ExecutionInfo, orchestrator: LocalOrchestrator) -> dict[str, Any]:
    """The EventBridge event Step Functions emits when an execution ends, for a local execution."""
    return {
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "000000000000",
        "time": "2026-03-02T10:41:07Z",
        "region": "local",
        "resources": [info.execution_id],
        "detail": {
            "executionArn": info.execution_id,
            "stateMachineArn": orchestrator.machine.logical_id,
            "name": job_id,
            "status": info.status,
            "input": json.dumps({"job_id": job_id}),
            "error": info.error,
            "cause": info.cause,
        },
    }


def backstop(event: dict[str, Any], backend: Backend) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("backstop_app", ROOT / "functions/execution_failed/app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    context = LocalLambdaContext(
        function_name="ExecutionFailedFunction", invoked_function_arn="local", timeout=30
    )
    result: dict[str, Any] = module.handler(event, context, backend=backend)
    return result


def start(backend: Backend, video: Path, orchestrator: LocalOrchestrator) -> tuple[str, str]:
    job_id = f"job-{time.monotonic_ns()}"
    record = new_job_record(
        job_id, source=Source(kind="path", location=str(video)), options=AnalyzeOptions(steps=[])
    )
    backend.jobs.create(record)
    backend.jobs.update(job_id, lambda current: setattr(current, "status", "running"))
    return job_id, orchestrator.start(job_id, {"job_id": job_id})


def test_a_failing_catch_target_leaves_the_job_to_the_backstop(
    backend: Backend, video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a probe that fails, and a Record Failure (the Catch target) that fails as well
    def broken_probe(*args: object, **kwargs: object) -> None:
        raise MediaToolError("ffprobe failed: moov atom not found")

    def broken_record(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the job store refused the write")

    monkeypatch.setattr(probe, "probe_media", broken_probe)
    monkeypatch.setattr(finalize, "failure_reason", broken_record)
    orchestrator = LocalOrchestrator(ROOT)
    job_id, execution = start(backend, video, orchestrator)
    info = orchestrator.wait(execution, timeout=120)
    # the execution fails outside its Catch, and the job is left running
    assert info.status == "FAILED"
    assert backend.jobs.get(job_id).status == "running"
    # When its status-change event reaches the backstop
    output = backstop(status_change(job_id, info, orchestrator), backend)
    # Then the job is failed at probe, naming the execution's failure and its error
    record = backend.jobs.get(job_id)
    assert output["action"] == "failed"
    assert record.status == "failed"
    assert record.error is not None
    assert record.error.step == "probe"
    assert record.error.type == "RuntimeError"
    assert record.error.message == "execution failed (RuntimeError): the job store refused the write"
    assert all(report.status != "running" for report in record.steps.values())


def test_an_execution_stopped_from_outside_fails_its_job(
    backend: Backend, video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a running job whose execution an operator stops (not the API's cancel)
    real_probe = probe.probe_media

    def slow_probe(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1.5)
        return real_probe(*args, **kwargs)

    monkeypatch.setattr(probe, "probe_media", slow_probe)
    orchestrator = LocalOrchestrator(ROOT)
    job_id, execution = start(backend, video, orchestrator)
    time.sleep(0.5)
    orchestrator.stop(execution, cause="stopped from the console")
    info = orchestrator.wait(execution, timeout=120)
    assert info.status == "ABORTED"
    # When the ABORTED event reaches the backstop
    backstop(status_change(job_id, info, orchestrator), backend)
    # Then the job is failed, not left running
    record = backend.jobs.get(job_id)
    assert record.status == "failed"
    assert record.error is not None
    assert record.error.message.startswith("execution was aborted")
