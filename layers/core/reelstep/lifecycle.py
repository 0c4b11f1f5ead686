"""The job lifecycle: submit, admit under the tenant's running cap, finish, cancel and retry.

Every place a job starts or ends goes through here, so the per-tenant cap holds: a job takes one of
its tenant's running slots before its execution starts and gives it back when it ends (succeeded,
failed or cancelled), which starts the tenant's oldest queued job. The slot and the job record live
in the job store, so this works across processes (API Lambdas, Finalize and Record Failure Lambdas)
as well as in one local server.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from reelstep.backend import Backend
from reelstep.errors import JobNotFound, ReelstepError
from reelstep.models import AnalyzeOptions, JobError, JobRecord, Source, StepReport, Webhook
from reelstep.observability import logger
from reelstep.pipeline.common import new_job_record, refresh_progress
from reelstep.ports import JobEvent

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
PROMOTION_PAGE = 20


class JobStateConflict(ReelstepError):
    """The job's status does not allow what was asked (cancelling an ended job, retrying a running one)."""


class _Admission(Enum):
    FULL = "full"
    STARTED = "started"
    START_FAILED = "start_failed"
    NOT_QUEUED = "not_queued"


def new_job_id() -> str:
    """Sortable by creation time and unique: a UTC timestamp plus random hex."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"


def publish(backend: Backend, record: JobRecord, detail_type: str, **detail: Any) -> None:
    backend.events.publish(
        JobEvent(
            detail_type=detail_type,
            job_id=record.job_id,
            tenant=record.tenant,
            status=record.status,
            detail=detail,
        )
    )


def submit_job(
    backend: Backend,
    *,
    tenant: str,
    source: Source,
    options: AnalyzeOptions,
    webhook: Webhook | None = None,
    job_id: str | None = None,
    fingerprint: str | None = None,
) -> JobRecord:
    """Create the job, announce it, and start it at once if its tenant has a running slot free.

    With ``job_id`` given and taken, JobAlreadyExists propagates: intake relies on it to make one
    job of an event delivered twice.
    """
    record = new_job_record(
        job_id or new_job_id(),
        tenant=tenant,
        source=source,
        options=options,
        webhook=webhook,
        request_fingerprint=fingerprint,
    )
    backend.jobs.create(record)
    publish(backend, record, "Job Queued")
    _admit(backend, record)
    return backend.jobs.get(record.job_id)


def _admit(backend: Backend, record: JobRecord) -> _Admission:
    """Take a slot and start the job's execution; a full tenant leaves it queued.

    The queued→running claim is one atomic update, so two processes promoting the same queued job
    (two jobs of a tenant ending at once) start it once. An execution is named per run (the record's
    version at the claim), since a retried job runs again under the same job id.
    """
    jobs = backend.jobs
    if not jobs.acquire_slot(record.tenant, record.job_id, limit=backend.settings.max_running_jobs):
        return _Admission.FULL
    claimed = False

    def claim(current: JobRecord) -> None:
        nonlocal claimed
        claimed = current.status == "queued" and current.execution_id is None
        if claimed:
            current.status = "running"
            current.message = "starting"

    current = jobs.update(record.job_id, claim)
    if not claimed:
        # Someone else started it (and holds this same slot), or it ended meanwhile.
        if current.status in TERMINAL_STATUSES:
            jobs.release_slot(current.tenant, current.job_id)
        return _Admission.NOT_QUEUED
    try:
        execution_id = backend.orchestrator.start(
            current.job_id, {"job_id": current.job_id, "run": current.version}
        )
    except Exception as exc:
        logger.exception("execution did not start", job_id=current.job_id)
        _fail_to_start(backend, current.job_id, exc)
        return _Admission.START_FAILED

    def started(latest: JobRecord) -> None:
        latest.execution_id = execution_id

    current = jobs.update(current.job_id, started)
    if current.status == "cancelled":
        # Cancelled between the claim and the start: the execution must not run on.
        _stop(backend, execution_id, "the job was cancelled while it started")
        jobs.release_slot(current.tenant, current.job_id)
        return _Admission.STARTED
    publish(backend, current, "Job Started", execution_id=execution_id)
    return _Admission.STARTED


def _fail_to_start(backend: Backend, job_id: str, exc: Exception) -> None:
    error = JobError(type=type(exc).__name__, message=f"the job's execution could not start: {exc}")

    def fail(current: JobRecord) -> None:
        if current.status not in TERMINAL_STATUSES:
            current.status = "failed"
            current.error = error
            current.message = error.message

    record = backend.jobs.update(job_id, fail)
    backend.jobs.release_slot(record.tenant, job_id)
    publish(backend, record, "Job Failed", error=error.model_dump(mode="json"))


def start_queued(backend: Backend, tenant: str) -> int:
    """Start the tenant's oldest queued jobs while it has slots free; returns how many started.

    Stops at the first failure to start: when the orchestrator is down, the rest stay queued rather
    than all failing, and the next job to end tries again.
    """
    started = 0
    cursor: str | None = None
    while True:
        page = backend.jobs.list_jobs(
            tenant, status="queued", oldest_first=True, limit=PROMOTION_PAGE, cursor=cursor
        )
        for queued in page.jobs:
            outcome = _admit(backend, queued)
            if outcome in (_Admission.FULL, _Admission.START_FAILED):
                return started
            if outcome is _Admission.STARTED:
                started += 1
        if page.next_cursor is None:
            return started
        cursor = page.next_cursor


def job_finished(backend: Backend, job_id: str) -> None:
    """Give back the ended job's running slot and start the tenant's queued jobs in its place.

    Safe to call more than once, and for jobs that never held a slot (the CLI's): only the call that
    finds the slot held releases it and promotes.
    """
    record = backend.jobs.get(job_id)
    if job_id not in backend.jobs.slot_holders(record.tenant):
        return
    backend.jobs.release_slot(record.tenant, job_id)
    start_queued(backend, record.tenant)


def _stop(backend: Backend, execution_id: str, cause: str) -> None:
    try:
        backend.orchestrator.stop(execution_id, cause=cause)
    except JobNotFound:
        # A local execution lives in the process that started it; one that is gone has stopped.
        logger.info("execution to stop is gone", execution_id=execution_id)


def cancel_job(backend: Backend, job_id: str, *, reason: str = "cancelled by the caller") -> JobRecord:
    """Stop the job's execution and mark it cancelled (terminal); a queued job is only marked."""
    cancelled = False

    def cancel(current: JobRecord) -> None:
        nonlocal cancelled
        cancelled = current.status not in TERMINAL_STATUSES
        if not cancelled:
            return
        for report in current.steps.values():
            if report.status in ("pending", "running"):
                report.status = "skipped"
                report.reason = f"not run: {reason}"
        current.status = "cancelled"
        current.message = reason
        current.current_step = None

    record = backend.jobs.update(job_id, cancel)
    if not cancelled:
        raise JobStateConflict(f"job {job_id} has already {record.status}; only queued or running jobs stop")
    if record.execution_id is not None:
        _stop(backend, record.execution_id, reason)
    publish(backend, record, "Job Cancelled", reason=reason)
    job_finished(backend, job_id)
    return backend.jobs.get(job_id)


def retry_job(backend: Backend, job_id: str) -> JobRecord:
    """Run a failed job again from its failed step: steps that succeeded keep their stored output.

    Options, webhook and tenant stay; status, error and the steps that did not succeed are reset.
    """
    retried = False

    def reset(current: JobRecord) -> None:
        nonlocal retried
        retried = current.status == "failed"
        if not retried:
            return
        for name, report in current.steps.items():
            if report.status != "succeeded":
                current.steps[name] = StepReport()
        current.status = "queued"
        current.error = None
        current.execution_id = None
        current.current_step = None
        current.message = "queued again after a failure"
        refresh_progress(current)

    record = backend.jobs.update(job_id, reset)
    if not retried:
        raise JobStateConflict(f"job {job_id} is {record.status}; only failed jobs can be retried")
    publish(backend, record, "Job Queued", retry=True)
    _admit(backend, record)
    return backend.jobs.get(job_id)
