"""Local Lambda invocations: the handler of ``functions/<name>/app.py``, in this process or in one of its own.

In-process calls are cheap (imports are paid once per process) but share one interpreter; a function the
template marks ``LocalProcess`` runs each invocation as ``python -m reelstep.adapters.lambda_process
REQUEST RESPONSE`` instead, so concurrent invocations (a Map's chunks) run on separate cores, and a
timeout kills the invocation and everything it started, as Lambda ends a sandbox. Request and response
are JSON files, so the handler's own logs on stdout and stderr never mix with its answer.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from reelstep.adapters.subprocesses import run_bounded
from reelstep.observability import logger

RUNTIME_EXIT_ERROR = "Runtime.ExitError"
"""The errorType Lambda reports when the runtime process dies before answering."""


@dataclass
class LocalLambdaContext:
    """The attributes of a Lambda context object that handlers and powertools read."""

    function_name: str
    invoked_function_arn: str
    timeout: float
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "local"
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LambdaErrorCause(_Model):
    """An error as Lambda reports it; Step Functions puts it, as JSON, in the task's Cause."""

    errorMessage: str  # Lambda's own field names
    errorType: str
    stackTrace: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, exc: BaseException) -> LambdaErrorCause:
        return cls(
            errorMessage=str(exc),
            errorType=type(exc).__name__,
            stackTrace=traceback.format_exception(exc)[-4:],
        )


class InvocationRequest(_Model):
    function_name: str
    code_dir: Path
    handler: str
    timeout: float
    event: Any


class InvocationResponse(_Model):
    value: Any = None
    error: LambdaErrorCause | None = None


class HandlerNotFound(RuntimeError):
    """A function's CodeUri and Handler name no module or attribute that can be loaded."""


def load_handler(function_name: str, code_dir: Path, handler: str) -> Callable[..., Any]:
    """Import ``code_dir/module.py`` under a name of its own (every function's module is ``app``)."""
    module_name, attribute = handler.rsplit(".", 1)
    path = code_dir / f"{module_name.replace('.', '/')}.py"
    spec = importlib.util.spec_from_file_location(f"reelstep_local_{function_name}", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise HandlerNotFound(f"cannot load {path} for {function_name}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    loaded = getattr(module, attribute, None)
    if not callable(loaded):
        raise HandlerNotFound(f"{path} has no handler {attribute} for {function_name}")
    return loaded  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ProcessOutcome:
    """What an invocation in its own process came to: a response, or how the process ended without one."""

    response: InvocationResponse | None
    returncode: int | None
    """None when the invocation was killed at its timeout."""
    stderr: str

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def invoke_in_own_process(
    request: InvocationRequest, *, python: str, cwd: Path, timeout: float
) -> ProcessOutcome:
    """Run one invocation as a child interpreter and read back its response file.

    The child's logs are replayed on this process's stdout and stderr once it ends; the child logs at
    this process's level, so a quiet CLI stays quiet.
    """
    with tempfile.TemporaryDirectory(prefix="reelstep-lambda-") as scratch:
        request_path, response_path = Path(scratch) / "request.json", Path(scratch) / "response.json"
        request_path.write_text(request.model_dump_json(), encoding="utf-8")
        env = {**os.environ, "REELSTEP_LOG_LEVEL": logging.getLevelName(logger.log_level)}
        command = [python, "-m", __name__, str(request_path), str(response_path)]
        returncode, stdout, stderr = run_bounded(command, timeout=timeout, cwd=cwd, env=env)
        logs = stderr.decode("utf-8", "replace")
        sys.stdout.write(stdout.decode("utf-8", "replace"))
        sys.stderr.write(logs)
        response = None
        if returncode == 0 and response_path.is_file():
            response = InvocationResponse.model_validate_json(response_path.read_bytes())
        return ProcessOutcome(response=response, returncode=returncode, stderr=logs)


def serve_one(request_path: Path, response_path: Path) -> None:
    """The child's side: load the handler, call it once, write what it returned or raised."""
    request = InvocationRequest.model_validate_json(request_path.read_bytes())
    context = LocalLambdaContext(
        function_name=request.function_name,
        invoked_function_arn=f"local:{request.function_name}",
        timeout=request.timeout,
    )
    try:
        handler = load_handler(request.function_name, request.code_dir, request.handler)
        response = InvocationResponse(value=handler(request.event, context))
        payload = response.model_dump_json()
    except Exception as exc:
        payload = InvocationResponse(error=LambdaErrorCause.of(exc)).model_dump_json()
    response_path.write_text(payload, encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m reelstep.adapters.lambda_process REQUEST.json RESPONSE.json")
    serve_one(Path(sys.argv[1]), Path(sys.argv[2]))
