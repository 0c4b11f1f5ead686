"""AWS for the tests: moto's server over HTTP on a loopback port, and fresh resources per test.

The jobs table is created from template.yaml's ``JobsTable`` when the template has it, so the table
the adapters are tested against is the table the stack deploys. The pytest fixtures that use these
helpers are in tests/integration/conftest.py.
"""

from __future__ import annotations

import functools
import json
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelstep.asl.sam_template import load_template
from reelstep.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
ACCOUNT = "123456789012"
PASS_MACHINE = {"StartAt": "Pass it on", "States": {"Pass it on": {"Type": "Pass", "End": True}}}

# The jobs table of common.md, for a checkout whose template.yaml does not define JobsTable yet.
_FALLBACK_JOBS_TABLE: dict[str, Any] = {
    "BillingMode": "PAY_PER_REQUEST",
    "AttributeDefinitions": [
        {"AttributeName": name, "AttributeType": "S"}
        for name in ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")
    ],
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": index,
            "KeySchema": [
                {"AttributeName": f"{prefix}pk", "KeyType": "HASH"},
                {"AttributeName": f"{prefix}sk", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
        for index, prefix in (("by_tenant_time", "gsi1"), ("by_tenant_status", "gsi2"))
    ],
    "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
}


def template_jobs_table() -> dict[str, Any] | None:
    """template.yaml's JobsTable Properties, or None while the template has no such resource."""
    resource = load_template(REPO_ROOT / "template.yaml")["Resources"].get("JobsTable")
    return dict(resource["Properties"]) if resource else None


def jobs_table_properties() -> dict[str, Any]:
    """template.yaml's JobsTable Properties, else the schema common.md fixes."""
    return template_jobs_table() or dict(_FALLBACK_JOBS_TABLE)


class SerialMotoServer:
    """moto's server app on a free loopback port, answering one request at a time.

    moto serves each request on its own thread without locking its in-memory tables, whereas
    DynamoDB applies each conditional write atomically. Serialising requests gives the concurrency
    contract tests that atomicity; the adapters' read-change-write cycles still interleave freely.
    """

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        dispatcher = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def one_at_a_time(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            with lock:
                return list(dispatcher(environ, start_response))

        self._server = make_server(
            "127.0.0.1", 0, one_at_a_time, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


@functools.cache
def _client(endpoint: str, service: str) -> Any:
    """One test-side client per service for the session: building a client costs tenths of a second."""
    import boto3

    return boto3.session.Session(region_name=REGION).client(service, endpoint_url=endpoint)


@dataclass(frozen=True)
class AwsStack:
    """Settings naming a fresh bucket, table, bus and state machine, and clients to inspect them."""

    settings: Settings
    endpoint: str

    def client(self, service: str) -> Any:
        return _client(self.endpoint, service)

    @property
    def name(self) -> str:
        """The one name every resource of this stack shares."""
        assert self.settings.bucket
        return self.settings.bucket


def _create_jobs_table(dynamodb: Any, name: str) -> None:
    """The key schema, indexes and TTL of the template; deployment-only settings (streams, PITR) aside."""
    properties = jobs_table_properties()
    indexes = [
        {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
        for index in properties.get("GlobalSecondaryIndexes", [])
    ]
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=properties["AttributeDefinitions"],
        KeySchema=properties["KeySchema"],
        BillingMode=properties.get("BillingMode", "PAY_PER_REQUEST"),
        **({"GlobalSecondaryIndexes": indexes} if indexes else {}),
    )
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


def create_stack(endpoint: str, home: Path) -> AwsStack:
    """Resources with one unique name, so tests share the server and never each other's data."""
    name = f"reelstep-test-{uuid.uuid4().hex[:12]}"
    stack = AwsStack(
        settings=Settings(
            backend="aws",
            home=home,
            bucket=name,
            jobs_table=name,
            event_bus=name,
            state_machine_arn=f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}",
            aws_region=REGION,
            aws_endpoint_url=endpoint,
        ),
        endpoint=endpoint,
    )
    stack.client("s3").create_bucket(Bucket=name)
    _create_jobs_table(stack.client("dynamodb"), name)
    stack.client("events").create_event_bus(Name=name)
    stack.client("stepfunctions").create_state_machine(
        name=name, definition=json.dumps(PASS_MACHINE), roleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}"
    )
    return stack
