"""The Step Functions orchestrator and the EventBridge publisher against moto's server."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from aws_fixtures import AwsStack
from reelstep.adapters.aws_clients import events_client, stepfunctions_client
from reelstep.adapters.eventbridge_events import EventBridgePublisher
from reelstep.adapters.sfn_orchestrator import StepFunctionsOrchestrator
from reelstep.errors import JobAlreadyExists, JobNotFound, TransientStorageError
from reelstep.ports import JobEvent


@pytest.fixture
def orchestrator(aws_stack: AwsStack) -> StepFunctionsOrchestrator:
    settings = aws_stack.settings
    assert settings.state_machine_arn
    return StepFunctionsOrchestrator(settings.state_machine_arn, client=stepfunctions_client(settings))


@pytest.fixture
def publisher(aws_stack: AwsStack) -> EventBridgePublisher:
    return EventBridgePublisher(aws_stack.name, client=events_client(aws_stack.settings))


def test_a_started_job_runs_until_stopped(
    aws_stack: AwsStack, orchestrator: StepFunctionsOrchestrator
) -> None:
    # When a job's execution starts
    execution_id = orchestrator.start("job-1", {"job_id": "job-1"})
    # Then it is named by the job and carries the job id as its input
    assert execution_id.endswith(f":execution:{aws_stack.name}:job-1")
    described = aws_stack.client("stepfunctions").describe_execution(executionArn=execution_id)
    assert json.loads(described["input"]) == {"job_id": "job-1"}
    assert orchestrator.describe(execution_id).status == "RUNNING"
    # And stopping it aborts it
    orchestrator.stop(execution_id, cause="cancelled by the caller")
    info = orchestrator.describe(execution_id)
    assert (info.execution_id, info.status) == (execution_id, "ABORTED")


def test_a_second_start_of_the_same_job_is_refused(orchestrator: StepFunctionsOrchestrator) -> None:
    execution_id = orchestrator.start("job-1", {"job_id": "job-1"})
    # A retried start with the same input while it runs is the same execution (Step Functions' idempotency)
    assert orchestrator.start("job-1", {"job_id": "job-1"}) == execution_id
    # Any other start under the same job id is refused, while it runs and after it ended
    with pytest.raises(JobAlreadyExists):
        orchestrator.start("job-1", {"job_id": "job-1", "again": True})
    orchestrator.stop(execution_id, cause="test")
    with pytest.raises(JobAlreadyExists):
        orchestrator.start("job-1", {"job_id": "job-1"})


def test_a_retried_run_of_a_job_gets_an_execution_of_its_own(
    orchestrator: StepFunctionsOrchestrator,
) -> None:
    # Given a job's first run that ended
    first = orchestrator.start("job-1", {"job_id": "job-1", "run": 3})
    orchestrator.stop(first, cause="failed")
    # When the job is retried (a later record version names the run)
    second = orchestrator.start("job-1", {"job_id": "job-1", "run": 7})
    # Then Step Functions starts a new execution instead of refusing the reused name
    assert second != first and second.endswith(":job-1-run7")
    assert orchestrator.describe(second).status == "RUNNING"
    with pytest.raises(JobAlreadyExists):
        orchestrator.start("job-1", {"job_id": "job-1", "run": 7, "again": True})


def test_unknown_executions_are_not_found(orchestrator: StepFunctionsOrchestrator) -> None:
    missing = orchestrator.start("job-1", {}).replace(":job-1", ":job-404")
    with pytest.raises(JobNotFound):
        orchestrator.describe(missing)
    with pytest.raises(JobNotFound):
        orchestrator.stop(missing, cause="test")


def _queue_for_job_events(stack: AwsStack) -> str:
    """An SQS queue that a rule on the stack's bus fills with every reelstep event."""
    sqs, events = stack.client("sqs"), stack.client("events")
    queue_url: str = sqs.create_queue(QueueName=stack.name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    queue_arn = attributes["QueueArn"]
    events.put_rule(
        Name=stack.name, EventBusName=stack.name, EventPattern=json.dumps({"source": ["reelstep"]})
    )
    events.put_targets(Rule=stack.name, EventBusName=stack.name, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return queue_url


def _received(stack: AwsStack, queue_url: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = stack.client("sqs").receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)
        if answer.get("Messages"):
            return [json.loads(message["Body"]) for message in answer["Messages"]]
    return []


def test_published_events_reach_the_bus(aws_stack: AwsStack, publisher: EventBridgePublisher) -> None:
    # Given a rule routing reelstep's events on the bus to a queue
    queue_url = _queue_for_job_events(aws_stack)
    # When a job event is published
    publisher.publish(
        JobEvent(
            detail_type="Job Succeeded",
            job_id="job-1",
            tenant="acme",
            status="succeeded",
            detail={"result_key": "jobs/job-1/result.json"},
        )
    )
    # Then it arrives with reelstep's source, the detail-type, and a small detail
    [event] = _received(aws_stack, queue_url)
    assert (event["source"], event["detail-type"]) == ("reelstep", "Job Succeeded")
    assert event["detail"] == {
        "job_id": "job-1",
        "tenant": "acme",
        "status": "succeeded",
        "detail": {"result_key": "jobs/job-1/result.json"},
    }


def test_an_event_the_bus_refuses_is_raised_with_its_error_code(publisher: EventBridgePublisher) -> None:
    refused = JobEvent(detail_type="", job_id="job-1", tenant="acme", status="failed")
    with pytest.raises(TransientStorageError, match="InvalidArgument"):
        publisher.publish(refused)
