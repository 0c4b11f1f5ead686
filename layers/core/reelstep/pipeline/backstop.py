"""Backstops for what the workflow cannot record itself, fed by EventBridge.

An execution can end outside the state machine's own Catch: the Catch target itself fails, the
execution's ``TimeoutSeconds`` runs out, or someone calls StopExecution. Step Functions then emits a
"Step Functions Execution Status Change" event, and ``record_execution_failure`` marks the job
failed from it, so no job is left ``running`` for ever. A GPU step's Batch job can wait a long time
for an instance; ``record_batch_state`` turns Batch's "Batch Job State Change" events into the job's
message, so a queued GPU step says it is waiting rather than looking stuck.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, Json

from reelstep.backend import Backend
from reelstep.errors import JobNotFound
from reelstep.lifecycle import job_finished
from reelstep.models import JobError, JobRecord, MediaInfo, StepName, Transcript, utcnow
from reelstep.observability import logger
from reelstep.pipeline.common import (
    MEDIA_JSON,
    RESULT_JSON,
    TRANSCRIPT_JSON,
    job_key,
    load_artifact,
    load_keyframes,
    load_scenes,
    put_json,
)
from reelstep.ports import JobEvent
from reelstep.steps import finalize

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
WAITING_FOR_GPU = "waiting for GPU capacity"
STARTING_GPU_WORKER = "starting GPU worker"
MAX_CAUSE_CHARS = 2000
JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
WORKFLOW_FAILURE = "JobFailed"
"""The Error of the state machine's own Fail state, reached only after Record Failure has run."""

_STATUS_WORDS = {"FAILED": "failed", "TIMED_OUT": "timed out", "ABORTED": "was aborted"}
_DEFAULT_ERRORS = {"FAILED": "ExecutionFailed", "TIMED_OUT": "States.Timeout", "ABORTED": "ExecutionAborted"}
_BATCH_MESSAGES = {"RUNNABLE": WAITING_FOR_GPU, "STARTING": STARTING_GPU_WORKER}


class _AwsModel(BaseModel):
    """EventBridge payloads: camelCase names as AWS sends them, unknown fields (AWS adds some) ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ExecutionInput(_AwsModel):
    job_id: str = Field(min_length=1, max_length=80, pattern=JOB_ID_PATTERN)


class ExecutionStatusDetail(_AwsModel):
    execution_arn: str = Field(alias="executionArn", min_length=1)
    state_machine_arn: str = Field(alias="stateMachineArn", min_length=1)
    name: str = Field(min_length=1, max_length=80, pattern=JOB_ID_PATTERN)
    status: Literal["FAILED", "TIMED_OUT", "ABORTED"]
    input: Json[ExecutionInput] | None = Field(
        default=None, description="The execution's input as a JSON string; absent when it was too large."
    )
    error: str | None = None
    cause: str | None = None

    @property
    def job_id(self) -> str:
        """The job the execution ran: its input's job_id, else its name (executions are named by job)."""
        return self.input.job_id if self.input is not None else self.name


class ExecutionStatusChange(_AwsModel):
    """A "Step Functions Execution Status Change" event for an execution that ended badly."""

    source: Literal["aws.states"]
    detail_type: Literal["Step Functions Execution Status Change"] = Field(alias="detail-type")
    time: datetime
    detail: ExecutionStatusDetail


class BatchJobParameters(_AwsModel):
    job_id: str = Field(min_length=1, max_length=80, pattern=JOB_ID_PATTERN)


class BatchContainer(_AwsModel):
    command: list[str] = Field(default_factory=list)


class BatchJobDetail(_AwsModel):
    job_id: str = Field(alias="jobId", min_length=1)
    job_name: str = Field(alias="jobName", min_length=1)
    job_queue: str = Field(alias="jobQueue", min_length=1)
    status: Literal["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"]
    status_reason: str | None = Field(default=None, alias="statusReason")
    parameters: BatchJobParameters
    container: BatchContainer | None = None


class BatchJobStateChange(_AwsModel):
    """A "Batch Job State Change" event for a job of the GPU queue."""

    source: Literal["aws.batch"]
    detail_type: Literal["Batch Job State Change"] = Field(alias="detail-type")
    time: datetime
    detail: BatchJobDetail


class BackstopOutput(BaseModel):
    job_id: str
    action: Literal["failed", "updated", "ignored"]
    message: str


def _cause_text(cause: str | None) -> str | None:
    """The human part of a cause: a Lambda's errorMessage or a Batch reason when it is JSON."""
    if not cause:
        return None
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        container = parsed.get("Container")
        reason = container.get("Reason") if isinstance(container, dict) else None
        cause = str(parsed.get("errorMessage") or reason or parsed.get("StatusReason") or cause)
    return cause[:MAX_CAUSE_CHARS]


def execution_error(detail: ExecutionStatusDetail, step: str | None) -> JobError:
    """Why the job failed, naming how the execution ended and its error and cause."""
    error = detail.error or _DEFAULT_ERRORS[detail.status]
    message = f"execution {_STATUS_WORDS[detail.status]} ({error})"
    cause = _cause_text(detail.cause)
    if cause:
        message += f": {cause}"
    return JobError(step=step, type=error, message=message)


def _store_failed_result(backend: Backend, record: JobRecord) -> None:
    """result.json for the failed job, from whatever artifacts its steps stored before it stopped."""
    job_id = record.job_id
    result = finalize.assemble_result(
        record,
        media=load_artifact(backend, job_key(job_id, MEDIA_JSON), MediaInfo),
        scenes=load_scenes(backend, job_id),
        keyframes=load_keyframes(backend, job_id),
        transcript=load_artifact(backend, job_key(job_id, TRANSCRIPT_JSON), Transcript),
        finished_at=utcnow(),
        error=record.error,
    )
    put_json(backend, job_key(job_id, RESULT_JSON), result.model_dump_json(indent=2).encode())


def record_execution_failure(event: ExecutionStatusChange, backend: Backend) -> BackstopOutput:
    """Mark the execution's job failed unless it already ended, then free its slot for a queued job.

    A job that already ended keeps its status: the workflow's own Catch recorded a failure (its Fail
    state's JobFailed says so even before the record reads as failed), Finalize recorded success, or
    the API cancelled the job (whose StopExecution is what aborted it). An event about an earlier run
    of a job that has been retried since is ignored, slot and all.
    """
    detail = event.detail
    job_id = detail.job_id
    try:
        record = backend.jobs.get(job_id)
    except JobNotFound:
        logger.warning("execution of an unknown job", job_id=job_id, execution=detail.execution_arn)
        return BackstopOutput(job_id=job_id, action="ignored", message=f"no job {job_id}")
    if record.execution_id not in (None, detail.execution_arn):
        return BackstopOutput(
            job_id=job_id,
            action="ignored",
            message=f"execution {detail.execution_arn} is not the job's current run",
        )
    recorded = detail.status == "FAILED" and detail.error == WORKFLOW_FAILURE
    error = execution_error(detail, record.current_step)
    failed = False

    def fail(current: JobRecord) -> None:
        nonlocal failed
        if current.status in TERMINAL_STATUSES or current.execution_id not in (None, detail.execution_arn):
            return
        for report in current.steps.values():
            if report.status in ("pending", "running"):
                report.reason = f"not run: {error.message}"
                report.status = "skipped"
        current.status = "failed"
        current.error = error
        current.message = f"failed at {error.step}: {error.message}" if error.step else error.message
        failed = True

    if record.status not in TERMINAL_STATUSES and not recorded:
        record = backend.jobs.update(job_id, fail)
    if failed:
        _store_failed_result(backend, record)
        backend.events.publish(
            JobEvent(
                detail_type="Job Failed",
                job_id=job_id,
                tenant=record.tenant,
                status=record.status,
                detail={"error": error.model_dump(mode="json")},
            )
        )
        logger.warning("job failed outside the workflow", job_id=job_id, reason=error.message)
    if record.status in TERMINAL_STATUSES or recorded:
        job_finished(backend, job_id)
    if failed:
        return BackstopOutput(job_id=job_id, action="failed", message=error.message)
    ended = f"job already {record.status}; execution {detail.status}"
    return BackstopOutput(job_id=job_id, action="ignored", message=ended)


def worker_step(command: list[str]) -> StepName | None:
    """The pipeline step a worker command runs (``python -m gpu_workers.<step> ...``), if it is one."""
    if "-m" not in command or command.index("-m") + 1 >= len(command):
        return None
    name = command[command.index("-m") + 1].rsplit(".", 1)[-1]
    try:
        return StepName(name)
    except ValueError:
        return None


def record_batch_state(event: BatchJobStateChange, backend: Backend) -> BackstopOutput:
    """Show a GPU job's wait on its job record: RUNNABLE waits for capacity, STARTING starts the worker.

    Other states are the worker's own to report. Events can arrive late or twice, so a job that ended,
    or whose GPU step has already started, is left alone.
    """
    detail = event.detail
    job_id = detail.parameters.job_id
    message = _BATCH_MESSAGES.get(detail.status)
    if message is None:
        return BackstopOutput(job_id=job_id, action="ignored", message=f"Batch job {detail.status}")
    step = worker_step(detail.container.command) if detail.container else None

    def stale(record: JobRecord) -> bool:
        if record.status in TERMINAL_STATUSES:
            return True
        report = record.steps.get(step.value) if step else None
        return report is not None and report.status != "pending"

    try:
        record = backend.jobs.get(job_id)
    except JobNotFound:
        logger.warning("Batch job for an unknown job", batch_job_id=detail.job_id, job_id=job_id)
        return BackstopOutput(job_id=job_id, action="ignored", message=f"no job {job_id}")
    if stale(record) or record.message == message:
        return BackstopOutput(job_id=job_id, action="ignored", message=f"job {record.status}; {message}")

    def show(current: JobRecord) -> None:
        if stale(current):
            return
        current.message = message
        if step is not None and step.value in current.steps:
            current.steps[step.value].message = message

    backend.jobs.update(job_id, show)
    logger.info("GPU job state", job_id=job_id, batch_status=detail.status, reason=detail.status_reason)
    return BackstopOutput(job_id=job_id, action="updated", message=message)
