"""The backstops on the local backend: executions that end outside the Catch, GPU jobs waiting on Batch.

The events are the documented EventBridge shapes (tests/events/*.json), fed through the real Lambda
handlers in functions/execution_failed and functions/batch_events.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

from reelstep.adapters.lambda_process import LocalLambdaContext
from reelstep.backend import Backend
from reelstep.errors import InvalidInput
from reelstep.models import JobRecord, JobStatus, Source, StepName, StepReport
from reelstep.pipeline import job_key, new_job_record
from reelstep.pipeline.backstop import WAITING_FOR_GPU, WORKFLOW_FAILURE
from reelstep.ports import ExecutionInfo

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
TENANT = "acme"


def event(file: str, **detail: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EVENTS / f"{file}.json").read_text())
    document["detail"].update(detail)
    return document


def lambda_handler(folder: str) -> Any:
    spec = importlib.util.spec_from_file_location(
        f"backstop_{folder}", ROOT / "functions" / folder / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def invoke(folder: str, payload: dict[str, Any], backend: Backend) -> dict[str, Any]:
    context = LocalLambdaContext(
        function_name=folder,
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{folder}",
        timeout=30,
    )
    result: dict[str, Any] = lambda_handler(folder)(payload, context, backend=backend)
    return result


def running_job(backend: Backend, job_id: str, *, status: JobStatus = "running") -> JobRecord:
    """A job part-way through: ingest and probe done, scenes running, the rest pending; it holds a slot."""
    record = new_job_record(
        job_id, tenant=TENANT, source=Source(kind="blob", location="uploads/acme/u1/a.mp4")
    )
    record.status = status
    record.steps[StepName.INGEST.value] = StepReport(status="succeeded", progress=1.0)
    record.steps[StepName.PROBE.value] = StepReport(status="succeeded", progress=1.0)
    record.steps[StepName.SCENES.value] = StepReport(status="running", progress=0.4)
    record.current_step = StepName.SCENES.value
    backend.jobs.create(record)
    assert backend.jobs.acquire_slot(TENANT, job_id, limit=2)
    return record


def published(backend: Backend) -> list[dict[str, Any]]:
    path = backend.settings.home / "events.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


# ----------------------------------------------------------------------------- executions


def test_a_timed_out_execution_fails_its_running_job_with_the_status_and_cause(backend: Backend) -> None:
    # Given a running job whose execution ran past its TimeoutSeconds
    running_job(backend, "job-timeout-1")
    # When the backstop hears of it
    output = invoke("execution_failed", event("sfn_execution_timed_out"), backend)
    # Then the job is failed, naming how the execution ended and why, at the step that was running
    record = backend.jobs.get("job-timeout-1")
    assert output["action"] == "failed"
    assert record.status == "failed"
    assert record.error is not None
    assert record.error.type == "States.Timeout"
    assert record.error.step == "scenes"
    assert "timed out" in record.error.message
    assert "TimeoutSeconds of 14400 seconds" in record.error.message
    assert record.message is not None and record.message.startswith("failed at scenes: execution timed out")
    # and nothing is left running or pending, finished steps keep their status
    statuses = {name: report.status for name, report in record.steps.items()}
    assert statuses["ingest"] == statuses["probe"] == "succeeded"
    unfinished = ("scenes", "keyframes", "audio", "transcribe", "finalize")
    assert {statuses[step] for step in unfinished} == {"skipped"}
    # and its slot is free, listeners hear "Job Failed", and result.json records the failure
    assert backend.jobs.slot_holders(TENANT) == set()
    events = published(backend)
    assert [(e["detail_type"], e["job_id"], e["status"]) for e in events] == [
        ("Job Failed", "job-timeout-1", "failed")
    ]
    assert events[0]["detail"]["error"]["type"] == "States.Timeout"
    result = json.loads(backend.blobs.get_bytes(job_key("job-timeout-1", "result.json")))
    assert result["status"] == "failed"


def test_a_failed_execution_names_the_lambda_error_message_from_its_cause(backend: Backend) -> None:
    running_job(backend, "job-failed-1")
    invoke("execution_failed", event("sfn_execution_failed"), backend)
    record = backend.jobs.get("job-failed-1")
    assert record.status == "failed"
    assert record.error is not None
    assert record.error.type == "Lambda.ServiceException"
    assert record.error.message == (
        "execution failed (Lambda.ServiceException): Rate exceeded while recording the failure"
    )


def test_an_aborted_execution_of_a_queued_job_fails_it(backend: Backend) -> None:
    running_job(backend, "job-aborted-1", status="queued")
    invoke("execution_failed", event("sfn_execution_aborted"), backend)
    record = backend.jobs.get("job-aborted-1")
    assert record.status == "failed"
    assert record.error is not None and record.error.type == "ExecutionAborted"
    assert record.error.message == "execution was aborted (ExecutionAborted)"


def test_a_cancelled_job_stays_cancelled_when_its_execution_is_aborted(backend: Backend) -> None:
    # Given a job the API cancelled, whose StopExecution aborts the execution
    running_job(backend, "job-aborted-1", status="cancelled")
    # When the ABORTED event arrives
    output = invoke("execution_failed", event("sfn_execution_aborted"), backend)
    # Then the job keeps its status, no failure is announced, and its slot is released all the same
    record = backend.jobs.get("job-aborted-1")
    assert output["action"] == "ignored"
    assert record.status == "cancelled"
    assert record.error is None
    assert published(backend) == []
    assert backend.jobs.slot_holders(TENANT) == set()


def test_a_job_the_catch_already_failed_keeps_its_own_reason(backend: Backend) -> None:
    # Given a job Record Failure already marked failed (its FAILED event follows the Fail state)
    running_job(backend, "job-failed-1")

    def recorded(record: JobRecord) -> None:
        record.status = "failed"
        record.message = "failed at scenes: ffmpeg failed: corrupt frame"

    backend.jobs.update("job-failed-1", recorded)
    # When the event is delivered, twice, as EventBridge may
    for _ in range(2):
        assert invoke("execution_failed", event("sfn_execution_failed"), backend)["action"] == "ignored"
    # Then the Catch's reason stands
    record = backend.jobs.get("job-failed-1")
    assert record.message == "failed at scenes: ffmpeg failed: corrupt frame"
    assert published(backend) == []


class RecordingOrchestrator:
    """An Orchestrator that records the executions it is asked to start, and runs none."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def start(self, job_id: str, execution_input: dict[str, Any]) -> str:
        self.started.append(job_id)
        return f"arn:aws:states:us-east-1:123456789012:execution:AnalyzeStateMachine:{job_id}"

    def describe(self, execution_id: str) -> ExecutionInfo:
        return ExecutionInfo(execution_id=execution_id, status="RUNNING")

    def stop(self, execution_id: str, *, cause: str) -> None:
        raise AssertionError(f"nothing should be stopped here ({execution_id}: {cause})")


def test_the_freed_slot_starts_the_tenants_oldest_queued_job(backend: Backend) -> None:
    # Given a tenant at its cap of one running job, with another job queued behind it
    orchestrator = RecordingOrchestrator()
    backend = dataclasses.replace(
        backend,
        settings=backend.settings.model_copy(update={"max_running_jobs": 1}),
        build_orchestrator=lambda settings: orchestrator,
    )
    running_job(backend, "job-timeout-1")
    queued = new_job_record(
        "job-queued-1", tenant=TENANT, source=Source(kind="path", location="/media/b.mp4")
    )
    backend.jobs.create(queued)
    # When the running job's execution times out
    invoke("execution_failed", event("sfn_execution_timed_out"), backend)
    # Then the queued job takes the slot and its execution starts
    assert orchestrator.started == ["job-queued-1"]
    assert backend.jobs.slot_holders(TENANT) == {"job-queued-1"}
    assert backend.jobs.get("job-queued-1").status == "running"


def test_an_event_about_an_earlier_run_of_a_retried_job_changes_nothing(backend: Backend) -> None:
    # Given a job that failed, was retried, and now runs under a new execution
    running_job(backend, "job-timeout-1")
    current_run = (
        "arn:aws:states:us-east-1:123456789012:execution:AnalyzeStateMachine-Xk3b9Qp2Lm7w:job-timeout-1-7"
    )
    backend.jobs.update("job-timeout-1", lambda record: setattr(record, "execution_id", current_run))
    # When the first run's TIMED_OUT event arrives late
    output = invoke("execution_failed", event("sfn_execution_timed_out"), backend)
    # Then the current run is left alone, slot included
    assert output["action"] == "ignored"
    assert backend.jobs.get("job-timeout-1").status == "running"
    assert backend.jobs.slot_holders(TENANT) == {"job-timeout-1"}


def test_the_job_id_comes_from_the_execution_input(backend: Backend) -> None:
    running_job(backend, "job-timeout-1")
    payload = event("sfn_execution_timed_out", name="job-timeout-1-run-2")
    assert invoke("execution_failed", payload, backend)["job_id"] == "job-timeout-1"
    assert backend.jobs.get("job-timeout-1").status == "failed"


def test_the_workflows_own_failure_is_left_to_record_failure(backend: Backend) -> None:
    # Given the FAILED event of the Fail state that follows Record Failure, read before its write shows
    running_job(backend, "job-failed-1")
    payload = event("sfn_execution_failed", error=WORKFLOW_FAILURE, cause="ffmpeg failed: corrupt frame")
    # Then the backstop does not overwrite what Record Failure recorded
    assert invoke("execution_failed", payload, backend)["action"] == "ignored"
    assert backend.jobs.get("job-failed-1").status == "running"
    # and the error it relies on is the one the state machine's Fail state raises
    definition = json.loads((ROOT / "infrastructure/statemachines/analyze.asl.json").read_text())
    fail_errors = {state.get("Error") for state in definition["States"].values() if state["Type"] == "Fail"}
    assert WORKFLOW_FAILURE in fail_errors


def test_an_execution_of_an_unknown_job_is_ignored(backend: Backend) -> None:
    output = invoke("execution_failed", event("sfn_execution_timed_out"), backend)
    assert output == {"job_id": "job-timeout-1", "action": "ignored", "message": "no job job-timeout-1"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda e: e["detail"].pop("status"), "detail.status"),
        (lambda e: e["detail"].update(status="SUCCEEDED"), "detail.status"),
        (lambda e: e["detail"].update(name="../etc"), "detail.name"),
        (lambda e: e["detail"].pop("executionArn"), "detail.executionArn"),
        (lambda e: e.update(source="aws.batch"), "source"),
        (lambda e: e.pop("detail"), "detail"),
        (lambda e: e["detail"].update(input='{"job": "job-timeout-1"}'), "detail.input.job_id"),
        (lambda e: e["detail"].update(input="{not json"), "detail.input"),
    ],
)
def test_a_malformed_execution_event_fails_fast_naming_the_field(
    backend: Backend, change: Any, field: str
) -> None:
    running_job(backend, "job-timeout-1")
    payload = copy.deepcopy(event("sfn_execution_timed_out"))
    change(payload)
    with pytest.raises(InvalidInput, match=f"malformed ExecutionStatusChange: {re.escape(field)}:"):
        invoke("execution_failed", payload, backend)
    assert backend.jobs.get("job-timeout-1").status == "running"


# ----------------------------------------------------------------------------- GPU jobs on Batch


def gpu_job(backend: Backend, job_id: str = "job-gpu-1") -> None:
    running_job(backend, job_id)


def test_a_runnable_gpu_job_shows_it_waits_for_capacity(backend: Backend) -> None:
    gpu_job(backend)
    output = invoke("batch_events", event("batch_job_runnable"), backend)
    record = backend.jobs.get("job-gpu-1")
    assert output == {"job_id": "job-gpu-1", "action": "updated", "message": WAITING_FOR_GPU}
    assert record.message == "waiting for GPU capacity"
    assert record.steps["transcribe"].message == "waiting for GPU capacity"
    assert record.steps["transcribe"].status == "pending"
    assert record.status == "running"


def test_a_starting_gpu_job_shows_its_worker_starting(backend: Backend) -> None:
    gpu_job(backend)
    invoke("batch_events", event("batch_job_runnable"), backend)
    invoke("batch_events", event("batch_job_starting"), backend)
    record = backend.jobs.get("job-gpu-1")
    assert record.message == "starting GPU worker"
    assert record.steps["transcribe"].message == "starting GPU worker"


def test_a_late_runnable_event_does_not_overwrite_a_started_step(backend: Backend) -> None:
    # Given the worker already started transcribing
    gpu_job(backend)

    def started(record: JobRecord) -> None:
        record.steps["transcribe"] = StepReport(status="running", message="transcribe started")
        record.message = "transcribe started"

    backend.jobs.update("job-gpu-1", started)
    # When the RUNNABLE event arrives late
    output = invoke("batch_events", event("batch_job_runnable"), backend)
    # Then the job still says what the worker said
    assert output["action"] == "ignored"
    assert backend.jobs.get("job-gpu-1").message == "transcribe started"


@pytest.mark.parametrize("status", ["RUNNING", "SUCCEEDED", "FAILED", "SUBMITTED", "PENDING"])
def test_other_batch_states_are_left_to_the_worker(backend: Backend, status: str) -> None:
    gpu_job(backend)
    output = invoke("batch_events", event("batch_job_runnable", status=status), backend)
    assert output["action"] == "ignored"
    assert backend.jobs.get("job-gpu-1").message is None


def test_a_gpu_event_for_an_ended_job_changes_nothing(backend: Backend) -> None:
    gpu_job(backend)
    backend.jobs.update("job-gpu-1", lambda record: setattr(record, "status", "cancelled"))
    assert invoke("batch_events", event("batch_job_runnable"), backend)["action"] == "ignored"
    assert backend.jobs.get("job-gpu-1").message is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda e: e["detail"].update(parameters={}), "detail.parameters.job_id"),
        (lambda e: e["detail"].update(status="WAITING"), "detail.status"),
        (lambda e: e["detail"].pop("jobQueue"), "detail.jobQueue"),
        (lambda e: e.update({"detail-type": "Batch Job Queue Blocked"}), "detail-type"),
    ],
)
def test_a_malformed_batch_event_fails_fast_naming_the_field(
    backend: Backend, change: Any, field: str
) -> None:
    gpu_job(backend)
    payload = copy.deepcopy(event("batch_job_runnable"))
    change(payload)
    with pytest.raises(InvalidInput, match=f"malformed BatchJobStateChange: {re.escape(field)}:"):
        invoke("batch_events", payload, backend)
