"""Errors as RFC 9457 problem details, mapped in one place from reelstep's named failures.

Each problem has a stable ``type`` (``urn:reelstep:problem:<slug>``) that clients can switch on, a
``title`` that goes with the type, and a ``detail`` naming this occurrence's problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, Field

from reelstep.errors import (
    BlobNotFound,
    DownloadFailed,
    InvalidInput,
    JobAlreadyExists,
    JobNotFound,
    MediaTooLarge,
    ReelstepError,
    SignatureInvalid,
    SourceNotFound,
    SourceRefused,
    TransientStorageError,
    UnsupportedMedia,
)
from reelstep.lifecycle import JobStateConflict

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:reelstep:problem:"


class FieldError(BaseModel):
    """One invalid field of a request: where it is and what is wrong with it."""

    location: str
    message: str


class Problem(BaseModel):
    """An error answer (RFC 9457)."""

    type: str = Field(description="Stable identifier of the kind of problem, urn:reelstep:problem:<slug>.")
    title: str = Field(description="Short summary of the kind of problem; the same for every occurrence.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong in this request, in words.")
    instance: str | None = Field(default=None, description="The request path.")
    errors: list[FieldError] | None = Field(
        default=None, description="For invalid requests: each field that is wrong."
    )


@dataclass(frozen=True)
class ProblemKind:
    slug: str
    status: int
    title: str

    @property
    def type(self) -> str:
        return TYPE_PREFIX + self.slug


MALFORMED_REQUEST = ProblemKind("malformed-request", 400, "Malformed request")
UNAUTHORIZED = ProblemKind("unauthorized", 401, "Missing or invalid API key")
SIGNATURE_INVALID = ProblemKind("signature-invalid", 403, "Invalid or expired presigned URL")
NOT_FOUND = ProblemKind("not-found", 404, "Not found")
METHOD_NOT_ALLOWED = ProblemKind("method-not-allowed", 405, "Method not allowed")
IDEMPOTENCY_CONFLICT = ProblemKind(
    "idempotency-key-reused", 409, "Idempotency key reused with a different request"
)
JOB_STATE_CONFLICT = ProblemKind("job-state-conflict", 409, "The job's status does not allow this")
RESULT_NOT_READY = ProblemKind("result-not-ready", 409, "The job has no result yet")
UPLOAD_TOO_LARGE = ProblemKind("upload-too-large", 413, "File too large")
UNSUPPORTED_MEDIA = ProblemKind("unsupported-media-type", 415, "Not an audio or video file")
INVALID_REQUEST = ProblemKind("invalid-request", 422, "Invalid request")
SOURCE_REFUSED = ProblemKind("source-refused", 422, "URL refused")
TOO_MANY_REQUESTS = ProblemKind("too-many-requests", 429, "Too many requests")
INTERNAL_ERROR = ProblemKind("internal-error", 500, "Internal error")
UNAVAILABLE = ProblemKind("service-unavailable", 503, "Service briefly unavailable")

_BY_ERROR: tuple[tuple[type[ReelstepError], ProblemKind], ...] = (
    (JobNotFound, NOT_FOUND),
    (BlobNotFound, NOT_FOUND),
    (JobStateConflict, JOB_STATE_CONFLICT),
    (JobAlreadyExists, JOB_STATE_CONFLICT),
    (SourceRefused, SOURCE_REFUSED),
    (DownloadFailed, SOURCE_REFUSED),
    (SourceNotFound, INVALID_REQUEST),
    (MediaTooLarge, UPLOAD_TOO_LARGE),
    (UnsupportedMedia, UNSUPPORTED_MEDIA),
    (SignatureInvalid, SIGNATURE_INVALID),
    (InvalidInput, INVALID_REQUEST),
    (TransientStorageError, UNAVAILABLE),
)


class ApiProblem(Exception):
    """Raised by a route to answer with a problem."""

    def __init__(self, kind: ProblemKind, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.headers = headers or {}


def kind_for(error: ReelstepError) -> ProblemKind:
    """The problem a named failure answers with; an unmapped one is an internal error."""
    return next((kind for cls, kind in _BY_ERROR if isinstance(error, cls)), INTERNAL_ERROR)


def for_status(status: int) -> ProblemKind:
    """A generic problem for a status raised by the framework itself (unknown route, wrong method)."""
    known = {
        kind.status: kind
        for kind in (MALFORMED_REQUEST, UNAUTHORIZED, NOT_FOUND, METHOD_NOT_ALLOWED, TOO_MANY_REQUESTS)
    }
    if status in known:
        return known[status]
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return ProblemKind(phrase.lower().replace(" ", "-"), status, phrase)


def problem_body(
    kind: ProblemKind, detail: str, *, instance: str | None = None, errors: list[FieldError] | None = None
) -> dict[str, Any]:
    problem = Problem(
        type=kind.type, title=kind.title, status=kind.status, detail=detail, instance=instance, errors=errors
    )
    return problem.model_dump(mode="json", exclude_none=True)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error statuses, each a Problem in problem+json."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
