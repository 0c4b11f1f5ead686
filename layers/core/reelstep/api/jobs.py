"""``/v1/jobs``: create, read, list, cancel and retry jobs, and fetch what they made.

Every job is its tenant's own: another tenant's job answers exactly as a job that does not exist.
Routes are plain functions (FastAPI runs them in its thread pool), since the stores block.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import RedirectResponse

from reelstep.api.deps import Authenticated, Context
from reelstep.api.pagination import decode_cursor, encode_cursor
from reelstep.api.problems import (
    IDEMPOTENCY_CONFLICT,
    NOT_FOUND,
    RESULT_NOT_READY,
    ApiProblem,
    problem_responses,
)
from reelstep.api.schemas import ArtifactList, JobList, JobRequest, JobView, UploadSource, UrlSource
from reelstep.backend import Backend
from reelstep.errors import BlobNotFound, InvalidInput, JobAlreadyExists, JobNotFound
from reelstep.lifecycle import cancel_job, retry_job, submit_job
from reelstep.models import JobRecord, JobStatus, Result, Source
from reelstep.pipeline.common import RESULT_JSON, job_key
from reelstep.steps.ingest import check_input_size, checked_addresses
from reelstep.webhooks import validate_webhook_url

JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
RESULT_STATUSES = frozenset({"succeeded", "failed"})

router = APIRouter(prefix="/jobs", tags=["jobs"])


def _root(request: Request) -> str:
    """The path prefix callers reach the app under, for links: behind API Gateway the stage ("/dev"),
    which is in the request context's path but not in the path the app is given."""
    event = request.scope.get("aws.event") or {}
    outer, inner = (event.get("requestContext") or {}).get("path"), event.get("path")
    if isinstance(outer, str) and isinstance(inner, str) and inner and outer.endswith(inner):
        return outer.removesuffix(inner).rstrip("/")
    return str(request.scope.get("root_path", "")).rstrip("/")


def owned_job(backend: Backend, job_id: str, tenant: str) -> JobRecord:
    """The tenant's job, or 404 exactly as for a job that does not exist."""
    missing = ApiProblem(NOT_FOUND, f"no job {job_id}")
    if not JOB_ID.fullmatch(job_id):
        raise missing
    try:
        record = backend.jobs.get(job_id)
    except JobNotFound:
        raise missing from None
    if record.tenant != tenant:
        raise missing
    return record


def idempotent_job_id(tenant: str, key: str) -> str:
    """The job id a tenant's Idempotency-Key maps to: the same key always names the same job."""
    return "idem-" + hashlib.sha256(f"{tenant}\n{key}".encode()).hexdigest()[:32]


def request_fingerprint(body: JobRequest) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _source(backend: Backend, tenant: str, requested: UrlSource | UploadSource) -> Source:
    """Check the source before the job exists: a refused URL or a missing upload is the caller's 422."""
    settings = backend.settings
    if isinstance(requested, UrlSource):
        # Every hop is checked again at download; this refuses what is refused already now.
        checked_addresses(requested.url, settings.trusted_hosts)
        return Source(kind="url", location=requested.url)
    prefix = f"uploads/{tenant}/{requested.upload_id}/"
    keys = backend.blobs.list_keys(prefix)
    if not keys:
        raise InvalidInput(
            f"upload {requested.upload_id} has no file: PUT the file to the URL from POST /v1/uploads first"
        )
    check_input_size(backend.blobs.size(keys[0]), settings.max_input_bytes, f"upload {requested.upload_id}")
    return Source(kind="blob", location=keys[0])


def _replay(record: JobRecord, tenant: str, fingerprint: str, root: str, response: Response) -> JobView:
    if record.tenant != tenant or record.request_fingerprint != fingerprint:
        raise ApiProblem(
            IDEMPOTENCY_CONFLICT,
            "this Idempotency-Key was used for a different request; use a new key for a new job",
        )
    response.status_code = 200
    return JobView.of(record, root)


@router.post(
    "",
    status_code=202,
    response_model=JobView,
    summary="Create a job",
    responses={
        200: {
            "model": JobView,
            "description": "A retry of a request already accepted under this Idempotency-Key",
        },
        **problem_responses(400, 401, 409, 413, 415, 422, 429),
    },
)
def create_job(
    body: JobRequest,
    request: Request,
    response: Response,
    caller: Authenticated,
    context: Context,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="Makes a retried request return the job the first one made.",
        ),
    ] = None,
) -> JobView:
    """Analyse a video from a URL or an upload; 202 with the job, which runs when the tenant has a slot."""
    backend = context.backend
    root = _root(request)
    job_id = fingerprint = None
    if idempotency_key is not None:
        job_id = idempotent_job_id(caller.tenant, idempotency_key)
        fingerprint = request_fingerprint(body)
        try:
            return _replay(backend.jobs.get(job_id), caller.tenant, fingerprint, root, response)
        except JobNotFound:
            pass
    source = _source(backend, caller.tenant, body.source)
    if body.webhook is not None:
        validate_webhook_url(body.webhook.url, backend.settings)
    try:
        record = submit_job(
            backend,
            tenant=caller.tenant,
            source=source,
            options=body.options,
            webhook=body.webhook,
            job_id=job_id,
            fingerprint=fingerprint,
        )
    except JobAlreadyExists:
        if job_id is None or fingerprint is None:
            raise
        # A concurrent request with the same key created it first.
        return _replay(backend.jobs.get(job_id), caller.tenant, fingerprint, root, response)
    response.headers["Location"] = f"{root}/v1/jobs/{record.job_id}"
    return JobView.of(record, root)


@router.get("", response_model=JobList, summary="List jobs", responses=problem_responses(401, 422, 429))
def list_jobs(
    request: Request,
    caller: Authenticated,
    context: Context,
    status: Annotated[JobStatus | None, Query(description="Only jobs with this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None, Query(max_length=2048, description="next_cursor of the previous page.")
    ] = None,
) -> JobList:
    """The caller's jobs, newest first, a page at a time."""
    store_cursor = decode_cursor(cursor, status) if cursor is not None else None
    page = context.backend.jobs.list_jobs(caller.tenant, status=status, limit=limit, cursor=store_cursor)
    root = _root(request)
    return JobList(
        jobs=[JobView.of(record, root) for record in page.jobs],
        next_cursor=encode_cursor(page.next_cursor, status) if page.next_cursor else None,
    )


@router.get(
    "/{job_id}", response_model=JobView, summary="Get a job", responses=problem_responses(401, 404, 429)
)
def get_job(job_id: str, request: Request, caller: Authenticated, context: Context) -> JobView:
    """Status, progress (0-1), the current step and its message, each step's status and seconds, the error."""
    return JobView.of(owned_job(context.backend, job_id, caller.tenant), _root(request))


@router.post(
    "/{job_id}/cancel",
    response_model=JobView,
    summary="Cancel a job",
    responses=problem_responses(401, 404, 409, 429),
)
def cancel(job_id: str, request: Request, caller: Authenticated, context: Context) -> JobView:
    """Stop the job's execution; it ends ``cancelled``. A job that has ended already answers 409."""
    owned_job(context.backend, job_id, caller.tenant)
    return JobView.of(cancel_job(context.backend, job_id), _root(request))


@router.post(
    "/{job_id}/retry",
    status_code=202,
    response_model=JobView,
    summary="Retry a failed job",
    responses=problem_responses(401, 404, 409, 429),
)
def retry(job_id: str, request: Request, caller: Authenticated, context: Context) -> JobView:
    """Run a failed job again from its failed step, keeping what earlier steps stored."""
    owned_job(context.backend, job_id, caller.tenant)
    return JobView.of(retry_job(context.backend, job_id), _root(request))


@router.get(
    "/{job_id}/result",
    summary="Get a job's result",
    response_class=Response,
    responses={
        200: {"model": Result, "description": "result.json, in the published schema"},
        **problem_responses(401, 404, 409, 429),
    },
)
def result(job_id: str, caller: Authenticated, context: Context) -> Response:
    """The result document of a job that has ended (succeeded, or failed with what it got to)."""
    record = owned_job(context.backend, job_id, caller.tenant)
    if record.status not in RESULT_STATUSES:
        raise ApiProblem(RESULT_NOT_READY, f"job {job_id} is {record.status}; only ended jobs have a result")
    try:
        document = context.backend.blobs.get_bytes(job_key(job_id, RESULT_JSON))
    except BlobNotFound:
        raise ApiProblem(RESULT_NOT_READY, f"job {job_id} is {record.status} but stored no result") from None
    return Response(content=document, media_type="application/json")


@router.get(
    "/{job_id}/artifacts",
    response_model=ArtifactList,
    summary="List a job's artifacts",
    responses=problem_responses(401, 404, 429),
)
def artifacts(job_id: str, caller: Authenticated, context: Context) -> ArtifactList:
    owned_job(context.backend, job_id, caller.tenant)
    prefix = job_key(job_id) + "/"
    return ArtifactList(paths=[key.removeprefix(prefix) for key in context.backend.blobs.list_keys(prefix)])


def _artifact_key(job_id: str, path: str) -> str | None:
    parts = PurePosixPath(path).parts
    if not parts or path.startswith("/") or "\\" in path or any(part in (".", "..") for part in parts):
        return None
    return job_key(job_id, *parts)


@router.get(
    "/{job_id}/artifacts/{path:path}",
    summary="Download an artifact",
    response_class=RedirectResponse,
    status_code=307,
    responses={
        307: {"description": "To a short-lived presigned URL of the file"},
        **problem_responses(401, 404, 429),
    },
)
def artifact(job_id: str, path: str, caller: Authenticated, context: Context) -> Any:
    """A redirect to a presigned URL valid for a few minutes (S3 on AWS, this server locally)."""
    backend = context.backend
    owned_job(backend, job_id, caller.tenant)
    key = _artifact_key(job_id, path)
    if key is None or not backend.blobs.exists(key):
        raise ApiProblem(NOT_FOUND, f"job {job_id} has no artifact {path!r}")
    url = backend.blobs.presigned_url(key, method="GET", expires_in=backend.settings.artifact_url_expiry)
    return RedirectResponse(url, status_code=307)
