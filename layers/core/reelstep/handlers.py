"""Entry-point wiring: turn a Lambda event or a Batch job's command line into one pipeline task call.

Handlers hold no domain logic: validate the event into its model, call the task, return the
output as JSON. The backend is injectable (keyword-only) so tests pass fakes without patching.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from reelstep.backend import Backend, get_backend
from reelstep.errors import ReelstepError
from reelstep.observability import logger
from reelstep.pipeline import TaskEvent, parse_event

EventT = TypeVar("EventT", bound=BaseModel)


class LambdaHandler(Protocol):
    def __call__(
        self, event: dict[str, Any], context: Any, *, backend: Backend | None = None
    ) -> dict[str, Any]: ...


def step_handler(task: Callable[[EventT, Backend], BaseModel], event_model: type[EventT]) -> LambdaHandler:
    """A Lambda handler for ``task``: its errors propagate, so their class names become the ``errorType``."""

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any, *, backend: Backend | None = None) -> dict[str, Any]:
        output = task(parse_event(event_model, event), backend or get_backend())
        return output.model_dump(mode="json")

    return handler


def batch_main(
    name: str, task: Callable[[TaskEvent, Backend], BaseModel], argv: Sequence[str] | None = None
) -> int:
    """A Batch job's entry point: ``--job-id`` from the job definition; one line and exit 1 on failure."""
    parser = argparse.ArgumentParser(prog=f"reelstep-{name}", description=f"reelstep {name} worker")
    parser.add_argument("--job-id", required=True)
    parser.add_argument("--input-key", default=None)
    args = parser.parse_args(argv)
    try:
        event = parse_event(TaskEvent, {"job_id": args.job_id, "input_key": args.input_key})
        output = task(event, get_backend())
    except ReelstepError as exc:
        print(f"{name} failed: {exc}", file=sys.stderr)
        return 1
    print(output.model_dump_json())
    return 0
