"""The AWS Orchestrator: one Step Functions execution per job, named by the job id.

Naming the execution after the job makes a second start of the same job visible: Step Functions
refuses a name already used (ExecutionAlreadyExists → JobAlreadyExists), except that a repeated start
with the same input while the first still runs returns that execution again, as Step Functions does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from reelstep.adapters.aws_clients import error_code, transient_errors
from reelstep.errors import InvalidInput, JobAlreadyExists, JobNotFound
from reelstep.ports import ExecutionInfo

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

MAX_CAUSE_CHARS = 32768


class StepFunctionsOrchestrator:
    def __init__(self, state_machine_arn: str, *, client: SFNClient) -> None:
        self.state_machine_arn = state_machine_arn
        self.client = client

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            with transient_errors(f"Step Functions {what}"):
                yield
        except Exception as exc:
            code = error_code(exc)
            if code == "ExecutionAlreadyExists":
                raise JobAlreadyExists(f"{what}: an execution with this name exists already") from exc
            if code == "ExecutionDoesNotExist":
                raise JobNotFound(f"{what}: no such execution") from exc
            if code in {"InvalidName", "InvalidArn", "InvalidExecutionInput"}:
                raise InvalidInput(f"{what}: {exc}") from exc
            raise

    def start(self, job_id: str, execution_input: dict[str, Any]) -> str:
        """Start the job's execution and return its ARN, the execution id the other calls take.

        The execution is named by the job id and the input's ``run`` (a retried job's new run needs a
        name of its own, since Step Functions never reuses one), so a duplicate start of the same run
        is refused by Step Functions itself.
        """
        run = execution_input.get("run")
        name = job_id if run is None else f"{job_id}-run{run}"
        with self._errors(f"start of job {job_id}"):
            answer = self.client.start_execution(
                stateMachineArn=self.state_machine_arn, name=name[:80], input=json.dumps(execution_input)
            )
        return answer["executionArn"]

    def describe(self, execution_id: str) -> ExecutionInfo:
        with self._errors(f"describe of {execution_id}"):
            answer = self.client.describe_execution(executionArn=execution_id)
        return ExecutionInfo(
            execution_id=execution_id,
            status=answer["status"],
            error=answer.get("error") or None,
            cause=answer.get("cause") or None,
        )

    def stop(self, execution_id: str, *, cause: str) -> None:
        with self._errors(f"stop of {execution_id}"):
            self.client.stop_execution(executionArn=execution_id, cause=cause[:MAX_CAUSE_CHARS])
