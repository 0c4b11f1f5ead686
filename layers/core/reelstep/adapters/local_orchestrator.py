"""The local Orchestrator: runs the real ASL file in-process, as Step Functions would on AWS.

Lambda tasks call the handler in ``functions/<name>/app.py`` inside this process (in a thread, so a
task timeout is enforced), or in a process of its own for a function marked ``LocalProcess`` (see
``lambda_process``); Batch tasks run the job definition's command as a subprocess from the
project root, with ``Ref::name`` placeholders filled from the task's Parameters, as Batch does.
"""

from __future__ import annotations

import json
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelstep.adapters.lambda_process import (
    RUNTIME_EXIT_ERROR,
    HandlerNotFound,
    InvocationRequest,
    LambdaErrorCause,
    LocalLambdaContext,
    invoke_in_own_process,
    load_handler,
)
from reelstep.adapters.subprocesses import run_bounded
from reelstep.asl import ExecutionResult, Executor, StatesError
from reelstep.asl.sam_template import (
    LocalFunction,
    LocalJobDefinition,
    LocalStateMachine,
    local_state_machine,
)
from reelstep.errors import JobNotFound
from reelstep.media.ffmpeg import last_error_line
from reelstep.observability import logger
from reelstep.ports import ExecutionInfo

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
BATCH_SUBMIT_SYNC = "arn:aws:states:::batch:submitJob.sync"


def _lambda_error(cause: LambdaErrorCause) -> StatesError:
    """An error as Step Functions reports a Lambda's: errorType as Error, the whole cause as JSON."""
    return StatesError(cause.errorType, cause.model_dump_json())


def _timed_out(name: str, timeout: float) -> StatesError:
    return StatesError("States.Timeout", f"{name} timed out after {timeout:.0f} seconds")


def _smallest(*limits: float | None) -> float | None:
    known = [limit for limit in limits if limit]
    return min(known) if known else None


class LocalTaskInvoker:
    """Resolves a Task's Resource to a local handler or worker command and runs it."""

    def __init__(
        self, machine: LocalStateMachine, project_root: Path, *, python: str = sys.executable
    ) -> None:
        self.machine = machine
        self.project_root = project_root
        self.python = python
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._lock = threading.Lock()

    def __call__(
        self, resource: str, parameters: Any, *, timeout_seconds: float | None, context: dict[str, Any]
    ) -> Any:
        if resource in self.machine.functions:
            return self._invoke(self.machine.functions[resource], parameters, timeout_seconds)
        if resource == LAMBDA_INVOKE:
            function = self.machine.functions.get(str(parameters.get("FunctionName")))
            if function is None:
                raise StatesError("States.Runtime", f"no local function for {parameters.get('FunctionName')}")
            payload = self._invoke(function, parameters.get("Payload", {}), timeout_seconds)
            return {"Payload": payload, "StatusCode": 200, "ExecutedVersion": "$LATEST"}
        if resource == BATCH_SUBMIT_SYNC:
            return self._submit_job(parameters, timeout_seconds)
        raise StatesError("States.Runtime", f"the local executor cannot run resource {resource}")

    def _handler(self, function: LocalFunction) -> Callable[..., Any]:
        """The function's handler, imported once per invoker."""
        with self._lock:
            if function.logical_id not in self._handlers:
                try:
                    self._handlers[function.logical_id] = load_handler(
                        function.logical_id, function.code_dir, function.handler
                    )
                except HandlerNotFound as exc:
                    raise StatesError("States.Runtime", str(exc)) from exc
            return self._handlers[function.logical_id]

    def _invoke(self, function: LocalFunction, event: Any, task_timeout: float | None) -> Any:
        timeout = _smallest(function.timeout, task_timeout) or function.timeout
        if function.own_process:
            return self._invoke_in_own_process(function, event, timeout)
        handler = self._handler(function)
        lambda_context = LocalLambdaContext(
            function_name=function.logical_id,
            invoked_function_arn=f"local:{function.logical_id}",
            timeout=timeout,
        )
        outcome: dict[str, Any] = {}

        def call() -> None:
            try:
                outcome["value"] = handler(event, lambda_context)
            except BaseException as exc:
                outcome["error"] = exc

        worker = threading.Thread(target=call, name=f"lambda-{function.logical_id}", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            raise _timed_out(function.logical_id, timeout)
        if "error" in outcome:
            raise _lambda_error(LambdaErrorCause.of(outcome["error"]))
        return outcome.get("value")

    def _invoke_in_own_process(self, function: LocalFunction, event: Any, timeout: float) -> Any:
        request = InvocationRequest(
            function_name=function.logical_id,
            code_dir=function.code_dir,
            handler=function.handler,
            timeout=timeout,
            event=event,
        )
        outcome = invoke_in_own_process(request, python=self.python, cwd=self.project_root, timeout=timeout)
        if outcome.timed_out:
            raise _timed_out(function.logical_id, timeout)
        if outcome.response is None:
            cause = LambdaErrorCause(
                errorType=RUNTIME_EXIT_ERROR,
                errorMessage=(
                    f"{function.logical_id} exited with status {outcome.returncode} before answering: "
                    f"{last_error_line(outcome.stderr)}"
                ),
            )
            raise _lambda_error(cause)
        if outcome.response.error is not None:
            raise _lambda_error(outcome.response.error)
        return outcome.response.value

    def _submit_job(self, parameters: dict[str, Any], task_timeout: float | None) -> dict[str, Any]:
        definition = self.machine.job_definitions.get(str(parameters.get("JobDefinition")))
        if definition is None:
            raise StatesError("States.Runtime", f"no local job definition {parameters.get('JobDefinition')}")
        if parameters.get("JobQueue") not in self.machine.job_queues:
            raise StatesError("States.Runtime", f"no local job queue {parameters.get('JobQueue')}")
        command = self._command(definition, parameters.get("Parameters", {}))
        timeout = _smallest(definition.timeout, task_timeout)
        job_name = str(parameters.get("JobName", definition.logical_id))
        logger.info("local batch job", job_name=job_name, command=command)
        returncode, _, stderr = run_bounded(command, timeout=timeout, cwd=self.project_root)
        if returncode is None:
            assert timeout is not None, "only a deadline ends a job without an exit code"
            raise _timed_out(job_name, timeout)
        description = {
            "JobName": job_name,
            "JobId": str(uuid.uuid4()),
            "JobDefinition": definition.logical_id,
        }
        if returncode != 0:
            reason = last_error_line(stderr.decode("utf-8", "replace"))
            cause = {
                **description,
                "Status": "FAILED",
                "StatusReason": "Essential container in task exited",
                "Container": {"ExitCode": returncode, "Reason": reason},
            }
            raise StatesError("States.TaskFailed", json.dumps(cause))
        return {**description, "Status": "SUCCEEDED", "Container": {"ExitCode": 0}}

    def _command(self, definition: LocalJobDefinition, overrides: dict[str, Any]) -> list[str]:
        """The container command with Batch's ``Ref::name`` placeholders filled and python made local."""
        values = {**definition.parameters, **{name: str(value) for name, value in overrides.items()}}
        command = []
        for index, part in enumerate(definition.command):
            if part.startswith("Ref::"):
                name = part.removeprefix("Ref::")
                if name not in values:
                    raise StatesError("States.Runtime", f"job parameter {name} has no value")
                part = values[name]
            elif index == 0 and part in {"python", "python3"}:
                part = self.python
            command.append(part)
        return command


@dataclass
class _Execution:
    executor: Executor
    thread: threading.Thread
    result: ExecutionResult | None = None


class LocalOrchestrator:
    """Runs executions of one state machine of template.yaml in background threads of this process."""

    def __init__(self, project_root: Path, *, state_machine: str = "AnalyzeStateMachine") -> None:
        self.project_root = project_root
        self.machine = local_state_machine(project_root / "template.yaml", state_machine)
        self.invoker = LocalTaskInvoker(self.machine, project_root)
        self._executions: dict[str, _Execution] = {}
        self._lock = threading.Lock()

    def start(self, job_id: str, execution_input: dict[str, Any]) -> str:
        execution_id = f"{self.machine.logical_id}:{job_id}:{uuid.uuid4().hex[:8]}"
        executor = Executor(self.machine.definition, self.invoker, substitutions=self.machine.substitutions)

        def run() -> None:
            result = executor.run(execution_input, execution_name=job_id)
            with self._lock:
                self._executions[execution_id].result = result
            logger.info("execution finished", execution_id=execution_id, status=result.status)

        thread = threading.Thread(target=run, name=f"execution-{job_id}", daemon=True)
        with self._lock:
            self._executions[execution_id] = _Execution(executor=executor, thread=thread)
        thread.start()
        return execution_id

    def _execution(self, execution_id: str) -> _Execution:
        with self._lock:
            execution = self._executions.get(execution_id)
        if execution is None:
            raise JobNotFound(f"no execution {execution_id} in this process")
        return execution

    def describe(self, execution_id: str) -> ExecutionInfo:
        execution = self._execution(execution_id)
        result = execution.result
        if result is None:
            return ExecutionInfo(execution_id=execution_id, status="RUNNING")
        return ExecutionInfo(
            execution_id=execution_id, status=result.status, error=result.error, cause=result.cause
        )

    def wait(self, execution_id: str, timeout: float | None = None) -> ExecutionInfo:
        self._execution(execution_id).thread.join(timeout)
        return self.describe(execution_id)

    def stop(self, execution_id: str, *, cause: str) -> None:
        logger.info("stopping execution", execution_id=execution_id, cause=cause)
        self._execution(execution_id).executor.abort()
