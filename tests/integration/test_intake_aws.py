"""Intake on the AWS backend (S3, DynamoDB, Step Functions on moto's server): one job per object write."""

from __future__ import annotations

import json
from typing import Any

from aws_fixtures import AwsStack
from reelstep.backend import aws_backend
from reelstep.intake import S3EventNotification, intake_s3_event
from reelstep.models import StepName
from reelstep.pipeline import parse_event

KEY = "incoming/acme/Board Meeting + Q&A.mp4"


def s3_event(stack: AwsStack, key: str) -> dict[str, Any]:
    """The notification S3 sends for ``key``, built from the stored object (moto sends none itself)."""
    head = stack.client("s3").head_object(Bucket=stack.name, Key=key)
    encoded = key.replace("+", "%2B").replace("&", "%26").replace(" ", "+")
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-03-02T09:15:02.114Z",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": stack.name, "arn": f"arn:aws:s3:::{stack.name}"},
                    "object": {
                        "key": encoded,
                        "size": head["ContentLength"],
                        "eTag": head["ETag"].strip('"'),
                        "sequencer": "0062E99A88DC407460",
                    },
                },
            }
        ]
    }


def test_the_same_s3_event_twice_makes_one_job_on_aws(aws_stack: AwsStack) -> None:
    # Given a file and its sidecar uploaded under incoming/acme/
    s3 = aws_stack.client("s3")
    s3.put_object(
        Bucket=aws_stack.name, Key=KEY + ".json", Body=json.dumps({"options": {"steps": ["scenes"]}}).encode()
    )
    s3.put_object(Bucket=aws_stack.name, Key=KEY, Body=b"media bytes")
    backend = aws_backend(aws_stack.settings)
    document = s3_event(aws_stack, KEY)
    # When S3 delivers the event twice
    first = intake_s3_event(parse_event(S3EventNotification, document), backend)
    second = intake_s3_event(parse_event(S3EventNotification, document), backend)
    # Then DynamoDB holds one job with the sidecar's options, and one execution was started for it
    (created,) = first.records
    assert (created.outcome, second.records[0].outcome) == ("created", "duplicate")
    (job,) = backend.jobs.list_jobs("acme").jobs
    assert job.job_id == created.job_id
    assert (job.source.kind, job.source.location) == ("blob", KEY)
    assert job.options.steps == [StepName.SCENES]
    executions = aws_stack.client("stepfunctions").list_executions(
        stateMachineArn=aws_stack.settings.state_machine_arn
    )["executions"]
    assert len(executions) == 1
    assert job.execution_id == executions[0]["executionArn"]
