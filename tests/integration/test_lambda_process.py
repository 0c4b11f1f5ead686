"""Lambda invocations in a process of their own (functions marked LocalProcess in template.yaml): the
answer, the error type Retry and Catch match on, a timeout that kills everything the handler started, and a
handler that dies before answering."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from reelstep.adapters.lambda_process import RUNTIME_EXIT_ERROR
from reelstep.adapters.local_orchestrator import LocalTaskInvoker
from reelstep.asl import StatesError
from reelstep.asl.sam_template import LocalFunction, LocalStateMachine, local_state_machine

ROOT = Path(__file__).resolve().parents[2]
ARN = "arn:aws:lambda:local:000000000000:function:Probe"

HANDLERS = """
import os, subprocess, sys, time


class TransientStorageError(Exception):
    pass


def echo(event, context):
    return {"pid": os.getpid(), "event": event, "name": context.function_name,
            "remaining_ms": context.get_remaining_time_in_millis()}


def flaky_store(event, context):
    raise TransientStorageError("the bucket answered 503")


def hang(event, context):
    child = subprocess.Popen(["sleep", "60"])
    with open(event["pid_file"], "w") as handle:
        handle.write(str(child.pid))
    time.sleep(60)


def die(event, context):
    print("about to crash", file=sys.stderr, flush=True)
    os._exit(3)
"""


def invoker_for(tmp_path: Path, handler: str, *, timeout: float = 30) -> LocalTaskInvoker:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "app.py").write_text(HANDLERS)
    function = LocalFunction(
        logical_id="Probe", code_dir=code, handler=f"app.{handler}", timeout=timeout, own_process=True
    )
    machine = LocalStateMachine(
        logical_id="Machine",
        definition={},
        substitutions={},
        functions={ARN: function},
        job_definitions={},
        job_queues=set(),
    )
    return LocalTaskInvoker(machine, tmp_path)


def call(invoker: LocalTaskInvoker, event: dict[str, Any], timeout: float | None = None) -> Any:
    return invoker(ARN, event, timeout_seconds=timeout, context={})


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.is_file() and status.read_text().split()[2] == "Z")


def test_the_chunk_analysis_is_the_function_that_runs_in_its_own_process() -> None:
    machine = local_state_machine(ROOT / "template.yaml", "AnalyzeStateMachine")
    assert {f.logical_id for f in machine.functions.values() if f.own_process} == {"AnalyzeChunkFunction"}


def test_a_handler_in_its_own_process_answers_with_its_context(tmp_path: Path) -> None:
    # Given a function marked to run in its own process
    invoker = invoker_for(tmp_path, "echo", timeout=30)
    # When it is invoked twice
    first = call(invoker, {"job_id": "job-1", "chunk": {"index": 0}})
    second = call(invoker, {"job_id": "job-1", "chunk": {"index": 1}})
    # Then each ran in a fresh interpreter, not this one, with the event and a Lambda-like context
    assert first["event"] == {"job_id": "job-1", "chunk": {"index": 0}}
    assert first["name"] == "Probe"
    assert 0 < first["remaining_ms"] <= 30_000
    assert len({first["pid"], second["pid"], os.getpid()}) == 3


def test_an_error_keeps_its_type_so_retry_and_catch_match_it(tmp_path: Path) -> None:
    with pytest.raises(StatesError) as raised:
        call(invoker_for(tmp_path, "flaky_store"), {})
    assert raised.value.error == "TransientStorageError"
    cause = json.loads(raised.value.cause or "{}")
    assert cause["errorType"] == "TransientStorageError"
    assert cause["errorMessage"] == "the bucket answered 503"
    assert cause["stackTrace"]


def test_a_timeout_kills_the_handler_and_what_it_started(tmp_path: Path) -> None:
    # Given a handler that starts a child process and then never answers
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()
    # When its task times out
    with pytest.raises(StatesError) as raised:
        call(invoker_for(tmp_path, "hang", timeout=60), {"pid_file": str(pid_file)}, timeout=2)
    # Then the task fails with States.Timeout at once, and the child it started is gone too
    assert time.monotonic() - started < 20
    assert raised.value.error == "States.Timeout"
    assert "Probe timed out after 2 seconds" in (raised.value.cause or "")
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)


def test_a_handler_that_dies_before_answering_is_a_runtime_exit_error(tmp_path: Path) -> None:
    with pytest.raises(StatesError) as raised:
        call(invoker_for(tmp_path, "die"), {})
    assert raised.value.error == RUNTIME_EXIT_ERROR
    cause = json.loads(raised.value.cause or "{}")
    assert cause["errorMessage"] == "Probe exited with status 3 before answering: about to crash"


def test_a_handler_that_is_not_there_fails_naming_it(tmp_path: Path) -> None:
    with pytest.raises(StatesError) as raised:
        call(invoker_for(tmp_path, "missing"), {})
    assert raised.value.error == "HandlerNotFound"
    assert "has no handler missing for Probe" in json.loads(raised.value.cause or "{}")["errorMessage"]
