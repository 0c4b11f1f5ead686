"""Choosing the AWS backend from settings, and the template's jobs table matching the adapter."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from aws_fixtures import REPO_ROOT, AwsStack, template_jobs_table
from reelstep.adapters.dynamo_jobs import BY_TENANT_STATUS, BY_TENANT_TIME
from reelstep.adapters.sfn_orchestrator import StepFunctionsOrchestrator
from reelstep.backend import Backend, aws_backend, default_orchestrator, get_backend
from reelstep.errors import InvalidInput
from reelstep.models import JobRecord, Source
from reelstep.settings import Settings, get_settings


def test_the_aws_backend_is_built_from_settings(aws_stack: AwsStack) -> None:
    # Given settings naming the stack's resources, with a one-week job TTL
    settings = aws_stack.settings.model_copy(update={"job_ttl_days": 7})
    backend = aws_backend(settings)
    # When a job is stored and an artifact written through it
    backend.jobs.create(JobRecord(job_id="job-1", tenant="acme", source=Source(kind="blob", location="x")))
    backend.blobs.put_bytes("jobs/job-1/result.json", b"{}")
    # Then they are in the stack's table and bucket, the job expiring a week after its last write
    item = aws_stack.client("dynamodb").get_item(
        TableName=aws_stack.name, Key={"pk": {"S": "JOB#job-1"}, "sk": {"S": "JOB"}}
    )["Item"]
    updated_at = backend.jobs.get("job-1").updated_at
    assert item["expires_at"] == {"N": str(int((updated_at + timedelta(days=7)).timestamp()))}
    assert (
        aws_stack.client("s3").get_object(Bucket=aws_stack.name, Key="jobs/job-1/result.json")["Body"].read()
        == b"{}"
    )


def test_the_orchestrator_is_built_once_on_first_use(aws_stack: AwsStack) -> None:
    built: list[Settings] = []

    def build(settings: Settings) -> StepFunctionsOrchestrator:
        built.append(settings)
        orchestrator = default_orchestrator(settings)
        assert isinstance(orchestrator, StepFunctionsOrchestrator)
        return orchestrator

    backend = aws_backend(aws_stack.settings)
    lazy = Backend(
        settings=backend.settings,
        blobs=backend.blobs,
        jobs=backend.jobs,
        events=backend.events,
        keys=backend.keys,
        build_orchestrator=build,
    )
    assert built == []
    first = lazy.orchestrator
    assert lazy.orchestrator is first and len(built) == 1
    assert first.start("job-1", {"job_id": "job-1"}).endswith(":job-1")


def test_starting_jobs_without_a_state_machine_names_the_variable(aws_stack: AwsStack) -> None:
    backend = aws_backend(aws_stack.settings.model_copy(update={"state_machine_arn": None}))
    with pytest.raises(InvalidInput, match="REELSTEP_STATE_MACHINE_ARN"):
        _ = backend.orchestrator


def test_get_backend_picks_aws_from_the_environment(
    aws_stack: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = aws_stack.settings
    monkeypatch.setenv("REELSTEP_BACKEND", "aws")
    monkeypatch.setenv("REELSTEP_BUCKET", aws_stack.name)
    monkeypatch.setenv("REELSTEP_JOBS_TABLE", aws_stack.name)
    monkeypatch.setenv("REELSTEP_EVENT_BUS", aws_stack.name)
    monkeypatch.setenv("REELSTEP_STATE_MACHINE_ARN", str(settings.state_machine_arn))
    monkeypatch.setenv("REELSTEP_AWS_ENDPOINT_URL", aws_stack.endpoint)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    get_settings.cache_clear()
    get_backend.cache_clear()
    try:
        backend = get_backend()
        assert isinstance(backend.orchestrator, StepFunctionsOrchestrator)
        backend.blobs.put_bytes("jobs/j/a.txt", b"a")
        head = aws_stack.client("s3").head_object(Bucket=aws_stack.name, Key="jobs/j/a.txt")
        assert head["ContentLength"] == 1
    finally:
        get_settings.cache_clear()
        get_backend.cache_clear()


def test_the_aws_backend_without_its_names_fails_naming_them(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REELSTEP_BUCKET", "REELSTEP_JOBS_TABLE", "REELSTEP_EVENT_BUS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REELSTEP_BACKEND", "aws")
    monkeypatch.setenv("REELSTEP_BUCKET", "media")
    with pytest.raises(ValidationError, match="REELSTEP_JOBS_TABLE, REELSTEP_EVENT_BUS"):
        Settings()


def test_the_region_falls_back_to_the_lambda_runtime_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REELSTEP_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    assert Settings().aws_region is None
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    assert Settings().aws_region == "eu-west-2"
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert Settings().aws_region == "eu-central-1"
    monkeypatch.setenv("REELSTEP_AWS_REGION", "ap-south-1")
    assert Settings().aws_region == "ap-south-1"
    assert Settings(aws_region="us-west-2").aws_region == "us-west-2"


def test_clients_carry_the_configured_timeouts_and_bounded_retries(aws_stack: AwsStack) -> None:
    from reelstep.adapters.aws_clients import dynamodb_client, s3_client

    settings = aws_stack.settings.model_copy(
        update={"aws_connect_timeout": 2.5, "aws_read_timeout": 12.0, "aws_max_attempts": 3}
    )
    for client in (s3_client(settings), dynamodb_client(settings)):
        config = client.meta.config
        assert (config.connect_timeout, config.read_timeout) == (2.5, 12.0)
        assert config.retries == {"mode": "standard", "total_max_attempts": 3}
        assert client.meta.endpoint_url == aws_stack.endpoint


def test_the_local_backend_and_the_cli_never_import_boto3(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "import reelstep.cli\n"
        "from reelstep.backend import get_backend\n"
        "backend = get_backend()\n"
        "backend.orchestrator\n"
        "assert 'boto3' not in sys.modules, 'boto3 was imported'\n"
        "print(type(backend.blobs).__name__, type(backend.orchestrator).__name__)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "REELSTEP_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["LocalBlobStore", "LocalOrchestrator"]


def test_the_templates_jobs_table_is_the_one_the_adapter_uses() -> None:
    table = template_jobs_table()
    if table is None:
        pytest.skip("template.yaml has no JobsTable yet")
    assert table.get("BillingMode") == "PAY_PER_REQUEST"
    keys = {(key["AttributeName"], key["KeyType"]) for key in table["KeySchema"]}
    assert keys == {("pk", "HASH"), ("sk", "RANGE")}
    indexes = {
        index["IndexName"]: (
            {(key["AttributeName"], key["KeyType"]) for key in index["KeySchema"]},
            index["Projection"]["ProjectionType"],
        )
        for index in table["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        BY_TENANT_TIME: ({("gsi1pk", "HASH"), ("gsi1sk", "RANGE")}, "ALL"),
        BY_TENANT_STATUS: ({("gsi2pk", "HASH"), ("gsi2sk", "RANGE")}, "ALL"),
    }
    assert {(a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]} == {
        (name, "S") for name in ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")
    }
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
