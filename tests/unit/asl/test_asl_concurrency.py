"""Parallel and Map (real threads), abort() and the state machine's TimeoutSeconds.

Concurrency is proven, not assumed: tasks meet at a threading.Barrier that only opens if they really run
at the same time, and every blocking wait has a timeout so a regression fails instead of hanging.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from reelstep.asl import ExecutionListener, ExecutionResult, Executor, StatesError

PATIENCE = 5.0  # seconds any test thread waits for another before giving up


class Invoker:
    """A TaskInvoker dispatching on the resource to plain functions of the parameters; records calls."""

    def __init__(self, **handlers: Callable[[Any], Any]) -> None:
        self.handlers = handlers
        self.calls: list[tuple[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(
        self, resource: str, parameters: Any, *, timeout_seconds: float | None, context: dict[str, Any]
    ) -> Any:
        with self._lock:
            self.calls.append((resource, parameters))
        return self.handlers[resource](parameters)

    def called(self, resource: str) -> list[Any]:
        with self._lock:
            return [parameters for name, parameters in self.calls if name == resource]


def task(resource: str, **fields: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": resource, **({"End": True} if "Next" not in fields else {}), **fields}


def branch(*states: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {"StartAt": states[0][0], "States": dict(states)}


def machine(states: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"StartAt": next(iter(states)), "States": states, **top}


def fails(error: str) -> Callable[[Any], Any]:
    def handler(parameters: Any) -> Any:
        raise StatesError(error, f"failed on {parameters}")

    return handler


# --- Parallel ----------------------------------------------------------------------------------------


def test_fun_with_math_from_the_spec() -> None:
    # Given the spec's FunWithMath Parallel state, When given [3, 2]
    parallel = {
        "Type": "Parallel",
        "Branches": [branch(("Add", task("add"))), branch(("Subtract", task("subtract")))],
        "Next": "NextState",
    }
    invoker = Invoker(add=lambda p: p[0] + p[1], subtract=lambda p: p[0] - p[1])
    definition = machine({"FunWithMath": parallel, "NextState": {"Type": "Succeed"}})
    # Then both branches get the array and the output lists their results in branch order
    assert Executor(definition, invoker).run([3, 2]) == ExecutionResult("SUCCEEDED", [5, 1])


def test_parallel_branches_run_at_the_same_time() -> None:
    # Given two branches whose tasks can only finish together
    barrier = threading.Barrier(2, timeout=PATIENCE)
    invoker = Invoker(meet=lambda p: barrier.wait())
    parallel = {
        "Type": "Parallel",
        "Branches": [branch(("A", task("meet"))), branch(("B", task("meet")))],
        "End": True,
    }
    # When run, Then it succeeds: a sequential run would break the barrier
    result = Executor(machine({"P": parallel}), invoker).run({})
    assert result.status == "SUCCEEDED"
    assert sorted(result.output) == [0, 1]


def test_the_first_branch_failure_fails_the_parallel_at_once_and_stops_the_others() -> None:
    # Given a branch that fails while the other is busy in a slow task with more work queued after it
    slow_started, release, slow_done = threading.Event(), threading.Event(), threading.Event()

    def slow(parameters: Any) -> str:
        slow_started.set()
        release.wait(PATIENCE)
        slow_done.set()
        return "slow"

    def fail_once_slow_is_busy(parameters: Any) -> Any:
        slow_started.wait(PATIENCE)
        raise StatesError("Boom", "the fast branch failed")

    invoker = Invoker(slow=slow, fast=fail_once_slow_is_busy, after=lambda p: "never")
    parallel = {
        "Type": "Parallel",
        "Branches": [
            branch(("Slow", task("slow", Next="After")), ("After", task("after"))),
            branch(("Fast", task("fast"))),
        ],
        "End": True,
    }
    # When run
    started = time.monotonic()
    result = Executor(machine({"P": parallel}), invoker).run({})
    elapsed = time.monotonic() - started
    # Then the Parallel fails with the branch's own error, without waiting for the slow task
    assert result == ExecutionResult("FAILED", error="Boom", cause="the fast branch failed")
    assert elapsed < PATIENCE / 2
    # And once the slow task returns, its branch does not go on
    release.set()
    assert slow_done.wait(PATIENCE)
    time.sleep(0.05)
    assert invoker.called("after") == []


def test_a_parallel_catches_and_retries_its_branch_errors() -> None:
    # Given a Parallel whose branch fails once, with a Retry, and one that always fails, with a Catch
    attempts = iter([StatesError("Flaky"), "ok"])

    def flaky(parameters: Any) -> Any:
        outcome = next(attempts)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    invoker = Invoker(flaky=flaky, broken=fails("Broken"))
    states = {
        "Retried": {
            "Type": "Parallel",
            "Branches": [branch(("F", task("flaky")))],
            "Next": "Caught",
            "Retry": [{"ErrorEquals": ["Flaky"]}],
            "ResultPath": "$.retried",
        },
        "Caught": {
            "Type": "Parallel",
            "Branches": [branch(("B", task("broken")))],
            "End": True,
            "Catch": [{"ErrorEquals": ["Broken"], "ResultPath": "$.caught", "Next": "Done"}],
        },
        "Done": {"Type": "Succeed"},
    }
    sleeps: list[float] = []
    # When run
    result = Executor(machine(states), invoker, sleep=sleeps.append).run({})
    # Then the retried Parallel succeeded after one wait, and the caught one passed the inner error to Done
    assert sleeps == [1]
    assert result.output == {
        "retried": ["ok"],
        "caught": {"Error": "Broken", "Cause": "failed on {'retried': ['ok']}"},
    }


# --- Map ---------------------------------------------------------------------------------------------

SHIPMENT: dict[str, Any] = {
    "ship-date": "2016-03-14T01:59:00Z",
    "detail": {
        "delivery-partner": "UQS",
        "shipped": [
            {"prod": "R31", "dest-code": 9511, "quantity": 1344},
            {"prod": "S39", "dest-code": 9511, "quantity": 40},
            {"prod": "R31", "dest-code": 9833, "quantity": 12},
            {"prod": "R40", "dest-code": 9860, "quantity": 887},
            {"prod": "R40", "dest-code": 9511, "quantity": 1220},
        ],
    },
}
VALIDATE = {"StartAt": "Validate", "States": {"Validate": task("ship-val")}}


def test_the_map_example_of_the_spec() -> None:
    # Given the spec's Validate-All Map state and shipment input
    state = {
        "Type": "Map",
        "InputPath": "$.detail",
        "ItemsPath": "$.shipped",
        "MaxConcurrency": 0,
        "ItemProcessor": VALIDATE,
        "ResultPath": "$.detail.shipped",
        "End": True,
    }
    invoker = Invoker(**{"ship-val": lambda item: {"valid": item["prod"]}})
    # When run
    result = Executor(machine({"Validate-All": state}), invoker).run(SHIPMENT)
    # Then each iteration got one shipped element, and "detail.shipped" holds their outputs in order
    assert (
        sorted(invoker.called("ship-val"), key=SHIPMENT["detail"]["shipped"].index)
        == SHIPMENT["detail"]["shipped"]
    )
    expected = {
        **SHIPMENT,
        "detail": {
            **SHIPMENT["detail"],
            "shipped": [{"valid": p} for p in ["R31", "S39", "R31", "R40", "R40"]],
        },
    }
    assert result == ExecutionResult("SUCCEEDED", expected)


def test_item_selector_reads_the_map_item_from_the_context_as_in_the_spec() -> None:
    # Given the spec's ItemSelector using $$.Map.Item.Value and the shared courier (plus the item's index)
    selector = {
        "parcel.$": "$$.Map.Item.Value",
        "courier.$": "$.delivery-partner",
        "index.$": "$$.Map.Item.Index",
    }
    state = {
        "Type": "Map",
        "InputPath": "$.detail",
        "ItemsPath": "$.shipped",
        "ItemSelector": selector,
        "ItemProcessor": VALIDATE,
        "End": True,
    }
    invoker = Invoker(**{"ship-val": lambda p: p["index"]})
    # When run
    result = Executor(machine({"Validate-All": state}), invoker).run(SHIPMENT)
    # Then the first iteration's input is the spec's, and the outputs line up with the indexes
    first = next(p for p in invoker.called("ship-val") if p["index"] == 0)
    assert first == {
        "parcel": {"prod": "R31", "dest-code": 9511, "quantity": 1344},
        "courier": "UQS",
        "index": 0,
    }
    assert result.output == [0, 1, 2, 3, 4]


def test_the_deprecated_iterator_and_parameters_still_work() -> None:
    # Given a Map written with Iterator and Parameters (the older names), When run
    state = {
        "Type": "Map",
        "ItemsPath": "$.items",
        "Parameters": {"v.$": "$$.Map.Item.Value", "k.$": "$.k"},
        "Iterator": {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}},
        "End": True,
    }
    result = Executor(machine({"M": state}), Invoker()).run({"items": [1, 2], "k": "x"})
    # Then they behave as ItemProcessor and ItemSelector
    assert result.output == [{"v": 1, "k": "x"}, {"v": 2, "k": "x"}]


def test_map_iterations_run_concurrently_and_keep_their_order() -> None:
    # Given three items where each iteration may finish only after the one after it finished
    done = [threading.Event() for _ in range(4)]
    done[3].set()

    def in_reverse(index: int) -> int:
        if not done[index + 1].wait(PATIENCE):
            raise TimeoutError("iterations did not run concurrently")
        done[index].set()
        return index * 10

    state = {"Type": "Map", "ItemProcessor": {"StartAt": "T", "States": {"T": task("step")}}, "End": True}
    # When run with no concurrency limit
    result = Executor(machine({"M": state}), Invoker(step=in_reverse)).run([0, 1, 2])
    # Then it succeeds (a serial run would time out) and outputs keep the items' order
    assert result == ExecutionResult("SUCCEEDED", [0, 10, 20])


def test_max_concurrency_bounds_the_iterations_running_at_once() -> None:
    # Given a probe counting how many iterations are inside the task at the same moment
    active = 0
    peak = 0
    order: list[int] = []
    lock = threading.Lock()

    def probe(index: int) -> int:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
            order.append(index)
        time.sleep(0.01)
        with lock:
            active -= 1
        return index

    def run(concurrency: int, items: int) -> None:
        state = {
            "Type": "Map",
            "MaxConcurrency": concurrency,
            "End": True,
            "ItemProcessor": {"StartAt": "T", "States": {"T": task("probe")}},
        }
        assert Executor(machine({"M": state}), Invoker(probe=probe)).run(list(range(items))).output == list(
            range(items)
        )

    # When MaxConcurrency is 1, Then one iteration runs at a time, in the items' order (the spec's rule)
    run(1, 6)
    assert (peak, order) == (1, list(range(6)))
    # And when it is 2, Then never more than two run at once
    peak, order = 0, []
    run(2, 6)
    assert peak == 2


def test_a_failed_iteration_fails_the_map_with_its_own_error_unless_tolerated() -> None:
    # Given iterations that fail for odd items
    def odd_fails(item: int) -> int:
        if item % 2:
            raise StatesError("OddItem", f"item {item}")
        return item

    def run(items: list[int], **tolerance: Any) -> ExecutionResult:
        state = {
            "Type": "Map",
            "End": True,
            "ItemProcessor": {"StartAt": "T", "States": {"T": task("check")}},
            **tolerance,
        }
        return Executor(machine({"M": state}), Invoker(check=odd_fails)).run(items)

    # When nothing is tolerated, Then the Map fails with the iteration's error
    assert run([0, 1, 2]) == ExecutionResult("FAILED", error="OddItem", cause="item 1")
    # And within ToleratedFailureCount the Map succeeds, a failed item's slot holding its error output
    assert run([0, 1, 2], ToleratedFailureCount=1).output == [0, {"Error": "OddItem", "Cause": "item 1"}, 2]
    # And beyond it (or beyond ToleratedFailurePercentage) the Map fails with the threshold error
    assert run([0, 1, 2, 3], ToleratedFailureCount=1).error == "States.ExceedToleratedFailureThreshold"
    assert run([0, 1, 2, 3], ToleratedFailurePercentage=50).status == "SUCCEEDED"
    assert (
        run([0, 1, 2, 3, 5], ToleratedFailurePercentage=50).error == "States.ExceedToleratedFailureThreshold"
    )
    assert run([1, 3], ToleratedFailureCountPath="$$.Execution.Input[0]").error == (
        "States.ExceedToleratedFailureThreshold"
    )


def test_map_items_must_be_an_array_and_may_be_empty() -> None:
    # Given a Map over "$.items"
    state = {
        "Type": "Map",
        "ItemsPath": "$.items",
        "End": True,
        "ItemProcessor": {"StartAt": "T", "States": {"T": task("never")}},
    }
    executor = Executor(machine({"M": state}), Invoker(never=lambda p: p))
    # When items is empty, Then the result is an empty array; when it is not an array, States.Runtime
    assert executor.run({"items": []}) == ExecutionResult("SUCCEEDED", [])
    assert executor.run({"items": {"a": 1}}).error == "States.Runtime"


def test_a_terminal_error_in_an_iteration_is_never_tolerated_or_caught() -> None:
    # Given an iteration whose path fails (States.Runtime), a generous tolerance and a catch-all
    state = {
        "Type": "Map",
        "ToleratedFailurePercentage": 100,
        "Next": "Done",
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}],
        "ItemProcessor": {
            "StartAt": "T",
            "States": {"T": {"Type": "Pass", "InputPath": "$.missing", "End": True}},
        },
    }
    definition = machine({"M": state, "Done": {"Type": "Succeed"}})
    # When run, Then the execution fails with States.Runtime
    assert Executor(definition, Invoker()).run([{}]).error == "States.Runtime"


# --- abort and timeout -------------------------------------------------------------------------------


def run_in_thread(executor: Executor, data: Any) -> tuple[threading.Thread, list[ExecutionResult]]:
    results: list[ExecutionResult] = []
    thread = threading.Thread(target=lambda: results.append(executor.run(data)), daemon=True)
    thread.start()
    return thread, results


def test_abort_ends_the_execution_at_once_and_starts_nothing_new() -> None:
    # Given a running task with another queued after it
    started, release = threading.Event(), threading.Event()

    def blocking(parameters: Any) -> str:
        started.set()
        release.wait(PATIENCE)
        return "late"

    invoker = Invoker(block=blocking, next=lambda p: "never")
    executor = Executor(machine({"A": task("block", Next="B"), "B": task("next")}), invoker)
    thread, results = run_in_thread(executor, {})
    assert started.wait(PATIENCE)
    # When aborted from another thread
    executor.abort()
    thread.join(PATIENCE / 2)
    # Then the run ends ABORTED without waiting for the task, and the next task never starts
    assert results == [ExecutionResult("ABORTED")]
    release.set()
    time.sleep(0.05)
    assert invoker.called("next") == []


def test_abort_interrupts_a_real_wait_and_stops_map_iterations() -> None:
    # Given a Map whose serial iterations each wait a minute (with the real, interruptible sleep)
    entered = threading.Event()

    class WhenWaiting(ExecutionListener):
        def state_entered(self, name: str, input: Any) -> None:
            if name == "Pause":
                entered.set()

    state = {
        "Type": "Map",
        "MaxConcurrency": 1,
        "End": True,
        "ItemProcessor": {
            "StartAt": "Pause",
            "States": {"Pause": {"Type": "Wait", "Seconds": 60, "End": True}},
        },
    }
    executor = Executor(machine({"M": state}), Invoker(), listener=WhenWaiting())
    thread, results = run_in_thread(executor, [1, 2, 3])
    assert entered.wait(PATIENCE)
    # When aborted, Then the wait is cut short and the run ends ABORTED within moments
    started = time.monotonic()
    executor.abort()
    thread.join(PATIENCE)
    assert results == [ExecutionResult("ABORTED")]
    assert time.monotonic() - started < 1


def test_the_state_machine_timeout_ends_the_execution_timed_out() -> None:
    # Given a machine with TimeoutSeconds 1 and a task that would run longer
    release = threading.Event()
    invoker = Invoker(slow=lambda p: release.wait(PATIENCE))
    executor = Executor(machine({"T": task("slow")}, TimeoutSeconds=1), invoker)
    # When run
    started = time.monotonic()
    result = executor.run({})
    elapsed = time.monotonic() - started
    release.set()
    # Then after about a second it ends TIMED_OUT with States.Timeout
    assert result.status == "TIMED_OUT"
    assert result.error == "States.Timeout"
    assert 0.9 < elapsed < PATIENCE / 2


def test_one_executor_runs_executions_side_by_side() -> None:
    # Given one Executor and tasks that only finish when two executions are inside them together
    barrier = threading.Barrier(2, timeout=PATIENCE)
    executor = Executor(
        machine({"T": task("meet", ResultPath="$.met")}), Invoker(meet=lambda p: barrier.wait() >= 0)
    )
    # When two runs start from two threads, Then both succeed with their own data
    first, first_results = run_in_thread(executor, {"n": 1})
    second, second_results = run_in_thread(executor, {"n": 2})
    first.join(PATIENCE)
    second.join(PATIENCE)
    assert first_results == [ExecutionResult("SUCCEEDED", {"n": 1, "met": True})]
    assert second_results == [ExecutionResult("SUCCEEDED", {"n": 2, "met": True})]
