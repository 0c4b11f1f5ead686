"""Errors map to problem details in one place, each with a stable type and the right status."""

from __future__ import annotations

import pytest

from reelstep.api.problems import (
    TYPE_PREFIX,
    Problem,
    for_status,
    kind_for,
    problem_body,
    problem_responses,
)
from reelstep.errors import (
    BlobNotFound,
    DownloadFailed,
    InvalidInput,
    JobAlreadyExists,
    JobNotFound,
    MediaTooLarge,
    ModelUnavailable,
    ReelstepError,
    SignatureInvalid,
    SourceRefused,
    TransientStorageError,
    UnsupportedMedia,
)
from reelstep.lifecycle import JobStateConflict


@pytest.mark.parametrize(
    ("error", "status", "slug"),
    [
        (JobNotFound("x"), 404, "not-found"),
        (BlobNotFound("x"), 404, "not-found"),
        (JobStateConflict("x"), 409, "job-state-conflict"),
        (JobAlreadyExists("x"), 409, "job-state-conflict"),
        (MediaTooLarge("x"), 413, "upload-too-large"),
        (UnsupportedMedia("x"), 415, "unsupported-media-type"),
        (InvalidInput("x"), 422, "invalid-request"),
        (SourceRefused("x"), 422, "source-refused"),
        (DownloadFailed("cannot resolve host"), 422, "source-refused"),
        (SignatureInvalid("x"), 403, "signature-invalid"),
        (TransientStorageError("x"), 503, "service-unavailable"),
        (ModelUnavailable("x"), 500, "internal-error"),
        (ReelstepError("x"), 500, "internal-error"),
    ],
)
def test_each_named_failure_has_its_problem(error: ReelstepError, status: int, slug: str) -> None:
    kind = kind_for(error)
    assert (kind.status, kind.type) == (status, TYPE_PREFIX + slug)


def test_framework_statuses_get_a_problem_too() -> None:
    assert for_status(404).type == "urn:reelstep:problem:not-found"
    assert for_status(405).type == "urn:reelstep:problem:method-not-allowed"
    assert (for_status(418).status, for_status(418).title) == (418, "I'm a Teapot")
    assert for_status(599).title == "Error"


def test_a_problem_body_is_a_valid_problem_without_empty_members() -> None:
    body = problem_body(kind_for(JobNotFound("x")), "no job x", instance="/v1/jobs/x")
    assert body == {
        "type": "urn:reelstep:problem:not-found",
        "title": "Not found",
        "status": 404,
        "detail": "no job x",
        "instance": "/v1/jobs/x",
    }
    Problem.model_validate(body)


def test_documented_error_responses_are_problem_json() -> None:
    documented = problem_responses(401, 404)
    assert set(documented) == {401, 404}
    assert documented[401]["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
