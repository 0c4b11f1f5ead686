"""The API as API Gateway runs it: the authorizer Lambda, then the app through Mangum with its context.

Both handlers are loaded from functions/*/app.py as Lambda loads them, over the local backend's key
and job stores; the events are REST API proxy events as API Gateway sends them.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from reelstep.api.auth import Unauthorized, create_api_key
from reelstep.backend import Backend

ROOT = Path(__file__).resolve().parents[2]
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/dev/{method}/v1/jobs"


def load_handler(function: str) -> Any:
    spec = importlib.util.spec_from_file_location(
        f"lambda_{function}", ROOT / "functions" / function / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


class LambdaContext:
    function_name = "ApiFunction"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ApiFunction"
    aws_request_id = "request-1"


def rest_event(
    method: str, path: str, *, key: str | None = None, body: Any = None, tenant: str | None = None
) -> dict[str, Any]:
    headers = {"Host": "abc123.execute-api.us-east-1.amazonaws.com", "Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    context: dict[str, Any] = {
        "resourcePath": "/{proxy+}",
        "httpMethod": method,
        "path": f"/dev{path}",
        "stage": "dev",
        "requestId": "request-1",
        "identity": {"sourceIp": "203.0.113.9"},
    }
    if tenant is not None:
        context["authorizer"] = {"principalId": tenant, "tenant": tenant, "key_id": "k1"}
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": context,
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


@pytest.fixture
def api(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("REELSTEP_MAX_RUNNING_JOBS", "0")
    return load_handler("api")


def test_the_authorizers_tenant_reaches_the_app(backend: Backend, api: Any) -> None:
    # Given a key, and the authorizer's answer for a request that carries it
    secret, _ = create_api_key(backend.keys, "acme")
    authorizer = load_handler("authorizer")
    allowed = authorizer(
        {"type": "REQUEST", "methodArn": METHOD_ARN.format(method="POST"), "headers": {"x-api-key": secret}},
        None,
    )
    tenant = allowed["context"]["tenant"]
    backend.blobs.put_bytes("uploads/acme/0123456789abcdef0123456789abcdef/clip.mp4", b"not checked here")
    # When API Gateway passes the request on with that context (and no key of its own)
    body = {"source": {"upload_id": "0123456789abcdef0123456789abcdef"}}
    created = api(rest_event("POST", "/v1/jobs", body=body, tenant=tenant), LambdaContext())
    # Then the job is the tenant's, and its links carry the stage
    assert created["statusCode"] == 202, created["body"]
    job = json.loads(created["body"])
    assert backend.jobs.get(job["job_id"]).tenant == "acme"
    assert job["links"]["job"] == f"/dev/v1/jobs/{job['job_id']}"
    listed = api(rest_event("GET", "/v1/jobs", tenant=tenant), LambdaContext())
    assert [entry["job_id"] for entry in json.loads(listed["body"])["jobs"]] == [job["job_id"]]


def test_without_an_authorizer_the_app_checks_the_key_itself(backend: Backend, api: Any) -> None:
    secret, _ = create_api_key(backend.keys, "acme")
    refused = api(rest_event("GET", "/v1/jobs"), LambdaContext())
    assert refused["statusCode"] == 401
    assert refused["headers"]["content-type"] == "application/problem+json"
    assert not refused["isBase64Encoded"]
    assert json.loads(refused["body"])["type"] == "urn:reelstep:problem:unauthorized"
    allowed = api(rest_event("GET", "/v1/jobs", key=secret), LambdaContext())
    assert allowed["statusCode"] == 200


def test_the_authorizer_refuses_a_request_without_a_valid_key(backend: Backend) -> None:
    authorizer = load_handler("authorizer")
    for headers in ({}, {"Authorization": "Bearer rsk_unknown"}):
        with pytest.raises(Unauthorized):
            authorizer(
                {"type": "REQUEST", "methodArn": METHOD_ARN.format(method="GET"), "headers": headers}, None
            )
