"""Run a state machine in-process, with Step Functions' semantics.

Each task call runs in its own daemon thread and every wait (task, sleep, Parallel/Map gathering) also
wakes when the execution is aborted or times out, so abort() and the machine's TimeoutSeconds take effect
at once. As on AWS, stopping an execution does not interrupt a task already running: its thread finishes
on its own and its result is discarded; nothing new starts.
"""

from __future__ import annotations

import contextvars
import copy
import enum
import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, ParamSpec, Protocol

from reelstep.asl.definition import (
    ChoiceState,
    FailState,
    Machine,
    MapState,
    ParallelState,
    PassState,
    State,
    SucceedState,
    TaskState,
    WaitState,
    WorkState,
    load_definition,
)
from reelstep.asl.errors import (
    DATA_LIMIT_EXCEEDED,
    EXCEED_TOLERATED_FAILURE_THRESHOLD,
    NO_CHOICE_MATCHED,
    RESULT_PATH_MATCH_FAILURE,
    RUNTIME,
    TERMINAL_ERRORS,
    TIMEOUT,
    StatesError,
    error_matches,
)
from reelstep.asl.intrinsics import IntrinsicCall
from reelstep.asl.paths import JsonPath, PathNotFound
from reelstep.asl.values import format_timestamp, is_integer, is_number, parse_timestamp, to_json

logger = logging.getLogger(__name__)

LOCAL_REGION = "local"
LOCAL_ACCOUNT = "000000000000"
# Step Functions runs at most 40 iterations of an inline Map at once, whatever MaxConcurrency says.
MAP_CONCURRENCY_LIMIT = 40

_P = ParamSpec("_P")


class TaskInvoker(Protocol):
    """Runs a Task's Resource. Enforces timeout_seconds itself (raising StatesError('States.Timeout'));
    any other exception becomes an error named after its class, the way Lambda reports errorType."""

    def __call__(
        self, resource: str, parameters: Any, *, timeout_seconds: float | None, context: dict[str, Any]
    ) -> Any: ...


@dataclass(frozen=True)
class ExecutionResult:
    status: Literal["SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"]
    output: Any = None
    error: str | None = None
    cause: str | None = None


class ExecutionListener:
    """Hooks for logs and progress; override what you need. Called from worker threads, concurrently
    inside Parallel and Map; an exception in a hook is logged and does not affect the execution."""

    def state_entered(self, name: str, input: Any) -> None:
        """A state starts, with its raw input."""

    def state_exited(self, name: str, output: Any) -> None:
        """A state finished normally, or had its error caught, with the output passed on."""

    def state_retried(self, name: str, error: StatesError, retry_count: int, delay_seconds: float) -> None:
        """A Retrier matched; the state runs again after delay_seconds (retry_count counts from 1)."""

    def state_failed(self, name: str, error: StatesError, next_state: str | None) -> None:
        """A state ended with an error; next_state is the Catcher's target, or None if it propagates."""


class _Stop(enum.Enum):
    ABORTED = "aborted"
    TIMED_OUT = "timed out"
    ENDED = "ended"  # the scope's owner is done with it (finished, or failed and gave up on the rest)


class _Stopped(Exception):
    """Unwinds a thread whose scope was stopped; never escapes the executor."""


class _Scope:
    """Cancellation shared by an execution, or by one Parallel/Map run and everything nested in it."""

    def __init__(self, parent: _Scope | None = None) -> None:
        self._lock = threading.Lock()
        self._reason: _Stop | None = None
        self._children: set[_Scope] = set()
        self._wakers: set[threading.Event] = set()
        self._parent = parent
        if parent is not None:
            parent._adopt(self)

    @property
    def reason(self) -> _Stop | None:
        return self._reason

    def _adopt(self, child: _Scope) -> None:
        with self._lock:
            if self._reason is None:
                self._children.add(child)
                return
            reason = self._reason
        child.stop(reason)

    def stop(self, reason: _Stop) -> None:
        with self._lock:
            if self._reason is not None:
                return
            self._reason = reason
            children, wakers = list(self._children), list(self._wakers)
            self._children.clear()
        for event in wakers:
            event.set()
        for child in children:
            child.stop(reason)
        if self._parent is not None:
            with self._parent._lock:
                self._parent._children.discard(self)

    def check(self) -> None:
        if self._reason is not None:
            raise _Stopped(self._reason.value)

    def wait(self, event: threading.Event, timeout: float | None = None) -> None:
        """Block until event is set or timeout passes; raise _Stopped as soon as the scope stops."""
        with self._lock:
            self.check()
            self._wakers.add(event)
        try:
            event.wait(timeout)
        finally:
            with self._lock:
                self._wakers.discard(event)
        self.check()


@dataclass(frozen=True)
class _Tolerance:
    """A Map's ToleratedFailureCount/Percentage; either breached fails the Map."""

    count: int | None
    percentage: float | None

    def exceeded(self, failures: int, total: int) -> bool:
        over_count = self.count is not None and failures > self.count
        over_percentage = self.percentage is not None and failures * 100 > self.percentage * total
        return over_count or over_percentage


class Executor:
    """Runs one state machine definition; one Executor may run many executions, even at once."""

    def __init__(
        self,
        definition: Mapping[str, Any] | str,
        invoker: TaskInvoker,
        *,
        substitutions: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] | None = None,
        listener: ExecutionListener | None = None,
        max_payload_bytes: int = 256 * 1024,
        name: str = "StateMachine",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``sleep`` replaces real waiting (Wait states, retry backoff) in tests, while the machine's
        TimeoutSeconds always counts real time; ``clock`` gives the current time for Timestamp waits and
        the context object; ``name`` names the state machine in the context object's ARNs."""
        self.machine = load_definition(definition, substitutions)
        self._invoker = invoker
        self._sleep = sleep
        self._listener = listener or ExecutionListener()
        self._max_payload_bytes = max_payload_bytes
        self._name = name
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._running: set[_Scope] = set()

    def run(self, input: Any, *, execution_name: str | None = None) -> ExecutionResult:
        """Run one execution to its end. Raises ValueError if the input is not JSON data."""
        try:
            data = json.loads(to_json(input))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"the execution input is not JSON data: {exc}") from None
        execution_name = execution_name or str(uuid.uuid4())
        root = _Scope()
        execution = _Execution(
            invoker=self._invoker,
            listener=self._listener,
            clock=self._clock,
            sleep=self._sleep,
            max_payload_bytes=self._max_payload_bytes,
            context_base=self._context_base(execution_name, data),
        )
        with self._lock:
            self._running.add(root)
        timer = None
        if self.machine.timeout_seconds is not None:
            timer = threading.Timer(self.machine.timeout_seconds, root.stop, args=(_Stop.TIMED_OUT,))
            timer.daemon = True
            timer.start()
        try:
            execution.limit(data, "the execution input")
            return ExecutionResult("SUCCEEDED", output=execution.run_machine(self.machine, data, root))
        except StatesError as error:
            return ExecutionResult("FAILED", error=error.error or None, cause=error.cause or None)
        except _Stopped:
            if root.reason is _Stop.TIMED_OUT:
                cause = f"The execution ran longer than its TimeoutSeconds ({self.machine.timeout_seconds})"
                return ExecutionResult("TIMED_OUT", error=TIMEOUT, cause=cause)
            return ExecutionResult("ABORTED")
        finally:
            if timer is not None:
                timer.cancel()
            root.stop(_Stop.ENDED)
            with self._lock:
                self._running.discard(root)

    def abort(self) -> None:
        """Stop every running execution of this Executor: they end ABORTED at once (thread-safe)."""
        with self._lock:
            running = list(self._running)
        for scope in running:
            scope.stop(_Stop.ABORTED)

    def _context_base(self, execution_name: str, data: Any) -> dict[str, Any]:
        arn = f"arn:aws:states:{LOCAL_REGION}:{LOCAL_ACCOUNT}"
        return {
            "Execution": {
                "Id": f"{arn}:execution:{self._name}:{execution_name}",
                "Name": execution_name,
                "Input": data,
                "StartTime": format_timestamp(self._clock()),
                "RedriveCount": 0,
            },
            "StateMachine": {"Id": f"{arn}:stateMachine:{self._name}", "Name": self._name},
        }


class _Execution:
    """The states' behaviour for one run; methods take the scope they run under."""

    def __init__(
        self,
        *,
        invoker: TaskInvoker,
        listener: ExecutionListener,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None] | None,
        max_payload_bytes: int,
        context_base: dict[str, Any],
    ) -> None:
        self._invoker = invoker
        self._listener = listener
        self._clock = clock
        self._sleep = sleep
        self._max_payload_bytes = max_payload_bytes
        self._context_base = context_base

    def run_machine(self, machine: Machine, data: Any, scope: _Scope) -> Any:
        """Run from StartAt to a terminal state; returns its output or raises StatesError/_Stopped."""
        name = machine.start_at
        while True:
            scope.check()
            state = machine.states[name]
            self._notify(self._listener.state_entered, name, data)
            try:
                output, next_name = self._run_state(state, data, scope)
                self.limit(output, f"the output of state {name!r}")
            except StatesError as error:
                self._notify(self._listener.state_failed, name, error, None)
                raise
            self._notify(self._listener.state_exited, name, output)
            if next_name is None:
                return output
            data, name = output, next_name

    def limit(self, value: Any, what: str) -> None:
        """Step Functions refuses payloads over 256 KB; so do we, to keep local runs honest."""
        size = len(to_json(value).encode())
        if size > self._max_payload_bytes:
            raise StatesError(
                DATA_LIMIT_EXCEEDED, f"{what} is {size} bytes, over the {self._max_payload_bytes} byte limit"
            )

    def _run_state(self, state: State, data: Any, scope: _Scope) -> tuple[Any, str | None]:
        entered = format_timestamp(self._clock())
        if isinstance(state, TaskState | ParallelState | MapState):
            return self._handled(state, data, scope, entered)
        context = self._context(state.name, entered, 0)
        if isinstance(state, PassState):
            effective = self._select(state.input_path, data, context, "InputPath")
            if state.parameters is not None:
                effective = state.parameters.evaluate(effective, context)
            result = state.result if state.has_result else effective
            output = self._place_result(state.result_path, data, result)
            return self._select(state.output_path, output, context, "OutputPath"), state.next
        effective = self._select(state.input_path, data, context, "InputPath")
        if isinstance(state, ChoiceState):
            next_name = self._choose(state, effective, context)
            return self._select(state.output_path, effective, context, "OutputPath"), next_name
        if isinstance(state, WaitState):
            self._pause(self._wait_seconds(state, effective, context), scope)
            return self._select(state.output_path, effective, context, "OutputPath"), state.next
        if isinstance(state, SucceedState):
            return self._select(state.output_path, effective, context, "OutputPath"), None
        assert isinstance(state, FailState)
        raise StatesError(
            self._fail_field(state.error, data, context, "ErrorPath"),
            self._fail_field(state.cause, data, context, "CausePath"),
        )

    def _handled(self, state: WorkState, data: Any, scope: _Scope, entered: str) -> tuple[Any, str | None]:
        """Run a Task, Parallel or Map under its Retry and Catch policies."""
        used = [0] * len(state.retry)
        retries = 0
        while True:
            context = self._context(state.name, entered, retries)
            try:
                return self._attempt(state, data, context, scope), state.next
            except StatesError as error:
                position = next(
                    (i for i, r in enumerate(state.retry) if error_matches(error.error, r.error_equals)), None
                )
                if position is not None and used[position] < state.retry[position].max_attempts:
                    delay = state.retry[position].delay(used[position])
                    used[position] += 1
                    retries += 1
                    self._notify(self._listener.state_retried, state.name, error, retries, delay)
                    self._pause(delay, scope)
                    continue
                catcher = next((c for c in state.catch if error_matches(error.error, c.error_equals)), None)
                if catcher is None:
                    raise
                self._notify(self._listener.state_failed, state.name, error, catcher.next)
                error_output = {"Error": error.error, "Cause": error.cause}
                return self._place_result(catcher.result_path, data, error_output), catcher.next

    def _attempt(self, state: WorkState, data: Any, context: dict[str, Any], scope: _Scope) -> Any:
        effective = self._select(state.input_path, data, context, "InputPath")
        if isinstance(state, TaskState):
            if state.parameters is not None:
                effective = state.parameters.evaluate(effective, context)
            self.limit(effective, f"the input of task {state.name!r}")
            timeout = self._positive_integer(
                state.timeout_seconds, state.timeout_seconds_path, effective, context
            )
            result = self._invoke(state, effective, timeout, context, scope)
            self.limit(result, f"the result of task {state.name!r}")
        elif isinstance(state, ParallelState):
            if state.parameters is not None:
                effective = state.parameters.evaluate(effective, context)
            jobs = [_bind(self.run_machine, branch, copy.deepcopy(effective)) for branch in state.branches]
            result = self._gather(jobs, len(jobs), scope, None)
        else:
            assert isinstance(state, MapState)
            result = self._map(state, effective, context, scope)
        if state.result_selector is not None:
            result = state.result_selector.evaluate(result, context)
        output = self._place_result(state.result_path, data, result)
        return self._select(state.output_path, output, context, "OutputPath")

    def _map(self, state: MapState, effective: Any, context: dict[str, Any], scope: _Scope) -> list[Any]:
        items = self._select(state.items_path, effective, context, "ItemsPath")
        if not isinstance(items, list):
            raise StatesError(
                RUNTIME, f"ItemsPath '{state.items_path}' must select an array, not {to_json(items)[:80]}"
            )
        if state.item_selector is not None:
            selector = state.item_selector
            items = [
                selector.evaluate(effective, {**context, "Map": {"Item": {"Index": index, "Value": item}}})
                for index, item in enumerate(items)
            ]
        concurrency = self._count(state.max_concurrency, effective, context, "MaxConcurrencyPath")
        count = self._count(state.tolerated_failure_count, effective, context, "ToleratedFailureCountPath")
        percentage = state.tolerated_failure_percentage
        if isinstance(percentage, JsonPath):
            percentage = self._read(percentage, effective, context, "ToleratedFailurePercentagePath")
            if not is_number(percentage) or not 0 <= percentage <= 100:
                raise StatesError(
                    RUNTIME, f"ToleratedFailurePercentagePath must select 0 to 100, got {percentage!r}"
                )
        tolerance = None if count is None and percentage is None else _Tolerance(count, percentage)
        workers = min(concurrency or MAP_CONCURRENCY_LIMIT, MAP_CONCURRENCY_LIMIT)
        jobs = [_bind(self.run_machine, state.processor, copy.deepcopy(item)) for item in items]
        return self._gather(jobs, workers, scope, tolerance)

    def _gather(
        self,
        jobs: Sequence[Callable[[_Scope], Any]],
        workers: int,
        scope: _Scope,
        tolerance: _Tolerance | None,
    ) -> list[Any]:
        """Run jobs on a thread pool under a child scope; the first failure not tolerated stops the rest."""
        if not jobs:
            return []
        child = _Scope(scope)
        results: list[Any] = [None] * len(jobs)
        wake = threading.Event()
        pool = ThreadPoolExecutor(max_workers=min(workers, len(jobs)), thread_name_prefix="asl")
        try:
            pending = {}
            for index, job in enumerate(jobs):
                future = pool.submit(contextvars.copy_context().run, job, child)
                future.add_done_callback(lambda _: wake.set())
                pending[future] = index
            failures = 0
            while pending:
                child.wait(wake)
                wake.clear()
                for future in sorted((f for f in pending if f.done()), key=pending.__getitem__):
                    index = pending.pop(future)
                    error = future.exception()
                    if error is None:
                        results[index] = future.result()
                        continue
                    if (
                        tolerance is None
                        or not isinstance(error, StatesError)
                        or error.error in TERMINAL_ERRORS
                    ):
                        raise error
                    failures += 1
                    results[index] = {"Error": error.error, "Cause": error.cause}
                    if tolerance.exceeded(failures, len(jobs)):
                        raise StatesError(
                            EXCEED_TOLERATED_FAILURE_THRESHOLD,
                            f"{failures} of {len(jobs)} iterations failed, the last with {error.error}",
                        )
            return results
        finally:
            child.stop(_Stop.ENDED)
            pool.shutdown(wait=False, cancel_futures=True)

    def _invoke(
        self, state: TaskState, parameters: Any, timeout: int | None, context: dict[str, Any], scope: _Scope
    ) -> Any:
        """Call the invoker in its own thread so that abort and the execution timeout need not wait for it."""
        scope.check()
        finished = threading.Event()
        outcome: list[Any] = []
        failure: list[BaseException] = []

        def call() -> None:
            try:
                outcome.append(
                    self._invoker(
                        state.resource,
                        copy.deepcopy(parameters),
                        timeout_seconds=None if timeout is None else float(timeout),
                        context=copy.deepcopy(context),
                    )
                )
            except BaseException as exc:  # handed over to the waiting thread, which decides
                failure.append(exc)
            finally:
                finished.set()

        worker = threading.Thread(
            target=contextvars.copy_context().run, args=(call,), name=f"asl-task {state.name}", daemon=True
        )
        worker.start()
        scope.wait(finished)
        if failure:
            exc = failure[0]
            if isinstance(exc, StatesError):
                raise exc
            if isinstance(exc, Exception):
                raise StatesError(type(exc).__name__, str(exc)) from exc
            raise exc
        try:
            return json.loads(to_json(outcome[0]))
        except (TypeError, ValueError) as exc:
            raise StatesError(
                RUNTIME, f"task {state.name!r} returned something that is not JSON: {exc}"
            ) from None

    def _choose(self, state: ChoiceState, effective: Any, context: dict[str, Any]) -> str:
        for rule, next_state in state.choices:
            if rule.matches(effective, context):
                return next_state
        if state.default is None:
            raise StatesError(NO_CHOICE_MATCHED, f"No Choice Rule of state {state.name!r} matched its input")
        return state.default

    def _wait_seconds(self, state: WaitState, effective: Any, context: dict[str, Any]) -> float:
        if state.seconds is not None:
            return state.seconds
        if state.seconds_path is not None:
            seconds = self._read(state.seconds_path, effective, context, "SecondsPath")
            if not is_integer(seconds) or seconds < 0:
                raise StatesError(
                    RUNTIME, f"SecondsPath '{state.seconds_path}' must select a non-negative integer"
                )
            return float(seconds)
        until = state.timestamp
        if state.timestamp_path is not None:
            until = parse_timestamp(self._read(state.timestamp_path, effective, context, "TimestampPath"))
            if until is None:
                raise StatesError(
                    RUNTIME, f"TimestampPath '{state.timestamp_path}' must select an RFC 3339 timestamp"
                )
        assert until is not None
        return max(0.0, (until - self._clock()).total_seconds())

    def _pause(self, seconds: float, scope: _Scope) -> None:
        scope.check()
        if seconds <= 0:
            return
        if self._sleep is not None:
            self._sleep(seconds)
            scope.check()
        else:
            scope.wait(threading.Event(), seconds)

    def _fail_field(
        self, source: str | JsonPath | IntrinsicCall | None, data: Any, context: Any, field: str
    ) -> str:
        if source is None or isinstance(source, str):
            return source or ""
        value = (
            source.evaluate(data, context)
            if isinstance(source, IntrinsicCall)
            else self._read(source, data, context, field)
        )
        if not isinstance(value, str):
            raise StatesError(RUNTIME, f"{field} must resolve to a string, got {to_json(value)[:80]}")
        return value

    def _positive_integer(
        self, value: int | None, path: JsonPath | None, data: Any, context: Any
    ) -> int | None:
        if path is None:
            return value
        found = self._read(path, data, context, "TimeoutSecondsPath")
        if not is_integer(found) or found < 1:
            raise StatesError(
                RUNTIME, f"TimeoutSecondsPath '{path}' must select a positive integer, got {found!r}"
            )
        return int(found)

    def _count(self, value: int | JsonPath | None, data: Any, context: Any, field: str) -> int | None:
        if not isinstance(value, JsonPath):
            return value
        found = self._read(value, data, context, field)
        if not is_integer(found) or found < 0:
            raise StatesError(RUNTIME, f"{field} '{value}' must select a non-negative integer, got {found!r}")
        return int(found)

    def _select(self, path: JsonPath | None, data: Any, context: Any, field: str) -> Any:
        """Apply an InputPath/OutputPath/ItemsPath; a null path selects an empty object."""
        return {} if path is None else self._read(path, data, context, field)

    @staticmethod
    def _read(path: JsonPath, data: Any, context: Any, field: str) -> Any:
        try:
            return path.evaluate(data, context)
        except PathNotFound as exc:
            raise StatesError(RUNTIME, f"Invalid path '{path}' in {field}: {exc}") from None

    @staticmethod
    def _place_result(path: JsonPath | None, data: Any, result: Any) -> Any:
        """ResultPath: null keeps the input, '$' replaces it, a deeper path merges into a copy."""
        if path is None:
            return data
        try:
            return path.assign(data, result)
        except PathNotFound as exc:
            raise StatesError(
                RESULT_PATH_MATCH_FAILURE, f"Unable to apply ResultPath '{path}': {exc}"
            ) from None

    def _context(self, state_name: str, entered: str, retry_count: int) -> dict[str, Any]:
        state = {"Name": state_name, "EnteredTime": entered, "RetryCount": retry_count}
        return {**self._context_base, "State": state}

    def _notify(self, hook: Callable[_P, None], *args: _P.args, **kwargs: _P.kwargs) -> None:
        try:
            hook(*args, **kwargs)
        except Exception:
            logger.exception("execution listener %s failed", getattr(hook, "__name__", hook))


def _bind(run: Callable[[Machine, Any, _Scope], Any], machine: Machine, data: Any) -> Callable[[_Scope], Any]:
    return lambda scope: run(machine, data, scope)
