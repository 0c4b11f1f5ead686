"""Entry-point wiring: turn a Lambda event or a Batch job's command line into one pipeline task call.

Handlers hold no domain logic: validate the event into its model, call the task, return the
output as JSON. The backend is injectable (keyword-only) so tests pass fakes without patching.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from reelstep.backend import Backend, get_backend
from reelstep.errors import InvalidInput, JobNotFound, ReelstepError
from reelstep.models import JobRecord, StepName, StepReport, utcnow
from reelstep.observability import logger
from reelstep.pipeline import TaskEvent, job_key, parse_event, refresh_progress
from reelstep.pipeline.common import INPUT_DIR
from reelstep.telemetry import record_task, tracer

EventT = TypeVar("EventT", bound=BaseModel)


class LambdaHandler(Protocol):
    def __call__(
        self, event: dict[str, Any], context: Any, *, backend: Backend | None = None
    ) -> dict[str, Any]: ...


def step_handler(task: Callable[[EventT, Backend], BaseModel], event_model: type[EventT]) -> LambdaHandler:
    """A Lambda handler for ``task``: its errors propagate, so their class names become the ``errorType``."""

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False)
    def handler(event: dict[str, Any], context: Any, *, backend: Backend | None = None) -> dict[str, Any]:
        backend = backend or get_backend()
        started = time.monotonic()
        outcome = "failed"
        try:
            output = task(parse_event(event_model, event), backend)
            outcome = "succeeded"
        finally:
            record_task(backend.settings, task.__name__, outcome=outcome, seconds=time.monotonic() - started)
        return output.model_dump(mode="json")

    traced: LambdaHandler = handler
    return traced


EXIT_TASK_FAILED = 1
EXIT_BAD_ARGUMENTS = 2
"""argparse's own exit code for a bad command line; malformed values get it too."""
PLACEHOLDER = "Ref::"


def _worker_event(job_id: str, input_key: str | None) -> TaskEvent:
    """The task event from a worker's command line; a bad value fails naming its option."""
    for option, value in (("--job-id", job_id), ("--input-key", input_key)):
        if value is not None and value.startswith(PLACEHOLDER):
            raise InvalidInput(
                f"{option} {value!r}: a Batch parameter placeholder left unfilled; "
                f"submit the job with Parameters.{value.removeprefix(PLACEHOLDER)}"
            )
    try:
        event = TaskEvent.model_validate({"job_id": job_id, "input_key": input_key})
    except ValidationError as exc:
        problems = "; ".join(
            f"--{str(error['loc'][0]).replace('_', '-')} {error['input']!r}: {error['msg']}"
            for error in exc.errors()
        )
        raise InvalidInput(problems) from exc
    if input_key is not None and not input_key.startswith(job_key(job_id, INPUT_DIR)):
        raise InvalidInput(f"--input-key {input_key!r}: not an input of job {job_id}")
    return event


def _record_step_failure(step: StepName, job_id: str, reason: str) -> None:
    """Put the reason on the step when the task could not (it failed before its bookkeeping began).

    On AWS a Batch job's failure carries its exit code, not its stderr, so this is how the reason
    reaches the job: Record Failure takes it from the failed step. Nothing is recorded for a job id
    that is malformed or unknown; a store that cannot be reached is logged and left, since the state
    machine still fails the job.
    """
    try:
        TaskEvent(job_id=job_id)
    except ValidationError:
        return

    def fail(record: JobRecord) -> None:
        report = record.steps.setdefault(step.value, StepReport())
        if report.status not in ("pending", "running"):
            return
        report.status = "failed"
        report.reason = reason
        report.progress = 1.0
        report.finished_at = utcnow()
        report.message = record.message = f"{step.value} failed: {reason}"
        refresh_progress(record)

    try:
        get_backend().jobs.update(job_id, fail)
    except JobNotFound:
        logger.warning("no such job to record the failure on", job_id=job_id)
    except Exception:
        logger.exception("could not record the failure on the job", job_id=job_id)


def batch_main(
    step: StepName, task: Callable[[TaskEvent, Backend], BaseModel], argv: Sequence[str] | None = None
) -> int:
    """A Batch job's entry point: ``--job-id`` from the job definition; one line and non-zero on failure.

    The last stderr line names what went wrong (the local executor and the job's logs show it). A
    malformed argument stops the worker before its task starts (exit 2); a failed task exits 1. Either
    way the step is marked failed with the reason when the job exists.
    """
    parser = argparse.ArgumentParser(
        prog=f"reelstep-{step.value}", description=f"reelstep {step.value} worker"
    )
    parser.add_argument("--job-id", required=True)
    parser.add_argument("--input-key", default=None)
    args = parser.parse_args(argv)
    try:
        event = _worker_event(args.job_id, args.input_key)
    except InvalidInput as exc:
        _record_step_failure(step, args.job_id, str(exc))
        print(f"{step.value} failed: {exc}", file=sys.stderr)
        return EXIT_BAD_ARGUMENTS
    try:
        output = task(event, get_backend())
    # A worker is a process of its own: whatever stops it ends in one line, not a traceback.
    except Exception as exc:
        if isinstance(exc, ReelstepError):
            reason = str(exc)
        else:
            logger.exception("worker crashed")
            reason = f"{type(exc).__name__}: {exc}"
        _record_step_failure(step, event.job_id, reason)
        print(f"{step.value} failed: {' '.join(reason.split())}", file=sys.stderr)
        return EXIT_TASK_FAILED
    print(output.model_dump_json())
    return 0
