"""The executor: input/output processing, each state type, the context object, retries and catchers.

Expected values come from the spec's examples wherever it gives one. Waits and backoff use a recording
sleep, so nothing here really sleeps.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reelstep.asl import ExecutionListener, ExecutionResult, Executor, StatesError
from reelstep.asl.templates import compile_template

ANALYZE = Path(__file__).parents[3] / "infrastructure" / "statemachines" / "analyze.asl.json"
NOW = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)


@dataclass(frozen=True)
class Call:
    resource: str
    parameters: Any
    timeout_seconds: float | None
    context: dict[str, Any]


class Tasks:
    """A TaskInvoker mapping each resource to a result, an exception, a function of the parameters, or an
    iterator of those (one per call); every call is recorded."""

    def __init__(self, **handlers: Any) -> None:
        self.handlers = handlers
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def __call__(
        self, resource: str, parameters: Any, *, timeout_seconds: float | None, context: dict[str, Any]
    ) -> Any:
        with self._lock:
            self.calls.append(Call(resource, parameters, timeout_seconds, context))
            handler = self.handlers[resource]
            if isinstance(handler, Iterator):
                handler = next(handler)
        if isinstance(handler, BaseException):
            raise handler
        return handler(parameters) if callable(handler) else handler

    def resources(self) -> list[str]:
        return [call.resource for call in self.calls]


def task(resource: str, **fields: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": resource, **({"End": True} if "Next" not in fields else {}), **fields}


def machine(states: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"StartAt": next(iter(states)), "States": states, **top}


def execute(
    definition: dict[str, Any], data: Any, tasks: Tasks | None = None, **options: Any
) -> ExecutionResult:
    return Executor(definition, tasks or Tasks(), clock=lambda: NOW, **options).run(
        data, execution_name="run-1"
    )


# --- input and output processing ---------------------------------------------------------------------


def test_input_path_and_result_path_from_the_spec() -> None:
    # Given the spec's "Numbers to add" input and a task that adds val1 and val2
    tasks = Tasks(add=lambda p: p["val1"] + p["val2"])
    definition = machine({"X": task("add", InputPath="$.numbers", ResultPath="$.sum")})
    # When run
    result = execute(definition, {"title": "Numbers to add", "numbers": {"val1": 3, "val2": 4}}, tasks)
    # Then the task saw only the numbers, and the sum joined the raw input
    assert tasks.calls[0].parameters == {"val1": 3, "val2": 4}
    assert result == ExecutionResult(
        "SUCCEEDED", {"title": "Numbers to add", "numbers": {"val1": 3, "val2": 4}, "sum": 7}
    )


def test_result_path_builds_intervening_objects_as_in_the_spec() -> None:
    # Given the spec's task returning "Hi!" with ResultPath "$.b.greeting", When run on {"a": 1}
    result = execute(machine({"X": task("hi", ResultPath="$.b.greeting")}), {"a": 1}, Tasks(hi="Hi!"))
    # Then "b" is created to hold the greeting
    assert result.output == {"a": 1, "b": {"greeting": "Hi!"}}


def test_the_payload_template_example_of_the_spec() -> None:
    # Given the spec's Parameters template, its input and its context object
    template = compile_template(
        {
            "flagged": True,
            "parts": {"first.$": "$.vals[0]", "last3.$": "$.vals[-3:]"},
            "weekday.$": "$$.DayOfWeek",
            "formattedOutput.$": "States.Format('Today is {}', $$.DayOfWeek)",
        }
    )
    # When the template is evaluated, Then the effective input is the spec's
    assert template.evaluate({"flagged": 7, "vals": [0, 10, 20, 30, 40, 50]}, {"DayOfWeek": "TUESDAY"}) == {
        "flagged": True,
        "parts": {"first": 0, "last3": [30, 40, 50]},
        "weekday": "TUESDAY",
        "formattedOutput": "Today is TUESDAY",
    }


def test_parameters_result_selector_result_path_and_output_path_apply_in_order() -> None:
    # Given a task whose raw result is wrapped (as a Lambda integration's is)
    tasks = Tasks(fn={"Payload": {"size": 10, "noise": "x"}, "StatusCode": 200})
    state = task(
        "fn",
        InputPath="$.job",
        Parameters={"id.$": "$.id", "fixed": 1, "nested": [{"from.$": "$.id"}]},
        ResultSelector={
            "size.$": "$.Payload.size",
            "ok.$": "States.ArrayContains(States.Array(200), $.StatusCode)",
        },
        ResultPath="$.job.result",
        OutputPath="$.job",
    )
    # When run
    result = execute(machine({"X": state}), {"job": {"id": "j1"}, "other": True}, tasks)
    # Then Parameters shaped the input from InputPath, ResultSelector the result, and the paths placed them
    assert tasks.calls[0].parameters == {"id": "j1", "fixed": 1, "nested": [{"from": "j1"}]}
    assert result.output == {"id": "j1", "result": {"size": 10, "ok": True}}


def test_null_paths_discard_as_the_spec_says() -> None:
    # Given ResultPath null, the result is discarded and the raw input passed on
    tasks = Tasks(fn={"big": "result"})
    assert execute(machine({"X": task("fn", ResultPath=None)}), {"keep": 1}, tasks).output == {"keep": 1}
    # And InputPath null gives the task an empty object, and OutputPath null outputs an empty object
    result = execute(machine({"X": task("fn", InputPath=None, OutputPath=None)}), {"keep": 1}, tasks)
    assert tasks.calls[-1].parameters == {}
    assert result.output == {}


def test_an_indefinite_output_path_gathers_its_matches_into_an_array() -> None:
    # Given the spec's note on "$.a[0,1]", When used as an OutputPath, Then the two values form an array
    result = execute(
        machine({"P": {"Type": "Pass", "OutputPath": "$.a[0,1]", "End": True}}), {"a": [1, 2, 3]}
    )
    assert result.output == [1, 2]


@pytest.mark.parametrize(
    "state",
    [
        task("fn", InputPath="$.missing"),
        task("fn", OutputPath="$.missing"),
        task("fn", Parameters={"x.$": "$.missing"}),
        task("fn", ResultSelector={"x.$": "$.missing"}),
    ],
)
def test_a_path_that_matches_nothing_fails_with_states_runtime_even_under_catch_all(
    state: dict[str, Any],
) -> None:
    # Given a path that cannot be applied, and a catch-all catcher
    state = {
        **state,
        "End": False,
        "Next": "Done",
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}],
    }
    definition = machine({"X": state, "Done": {"Type": "Succeed"}})
    # When run, Then the execution fails with States.Runtime: runtime errors are never caught
    result = execute(definition, {"present": 1}, Tasks(fn={"a": 1}))
    assert result.status == "FAILED"
    assert result.error == "States.Runtime"
    assert "$.missing" in (result.cause or "")


def test_result_path_on_a_string_input_is_a_result_path_match_failure() -> None:
    # Given the spec's example: input "foo", ResultPath "$.x", When run, Then States.ResultPathMatchFailure
    result = execute(machine({"X": task("fn", ResultPath="$.x")}), "foo", Tasks(fn=1))
    assert (result.status, result.error) == ("FAILED", "States.ResultPathMatchFailure")


# --- Pass, Wait, Succeed, Fail, Choice ----------------------------------------------------------------


def test_pass_state_result_and_result_path_from_the_spec() -> None:
    # Given the spec's ProvideTestData Pass state, When run on {"georefOf": "Home"}
    state = {
        "Type": "Pass",
        "Result": {"x-datum": 0.381018, "y-datum": 622.2269926397355},
        "ResultPath": "$.coords",
    }
    result = execute(machine({"ProvideTestData": {**state, "End": True}}), {"georefOf": "Home"})
    # Then the fixed data joins the input under "coords"
    assert result.output == {
        "georefOf": "Home",
        "coords": {"x-datum": 0.381018, "y-datum": 622.2269926397355},
    }


def test_pass_state_parameters_and_passthrough() -> None:
    # Given a Pass with Parameters and no Result, Then its output is the payload
    state = {
        "Type": "Pass",
        "Parameters": {"n.$": "States.MathAdd($.n, 1)", "name.$": "$$.State.Name"},
        "End": True,
    }
    assert execute(machine({"Inc": state}), {"n": 1}).output == {"n": 2, "name": "Inc"}
    # And a bare Pass copies its input through
    assert execute(machine({"Same": {"Type": "Pass", "End": True}}), [1, "two"]).output == [1, "two"]


@pytest.mark.parametrize(
    ("wait", "data", "expected_sleep"),
    [
        ({"Seconds": 10}, {}, [10]),
        ({"SecondsPath": "$.delay"}, {"delay": 7}, [7]),
        ({"Timestamp": "2024-05-06T07:09:09.123Z"}, {}, [60.0]),
        ({"TimestampPath": "$.until"}, {"until": "2024-05-06T09:08:09.123+02:00"}, []),
        ({"TimestampPath": "$.until"}, {"until": "2024-05-06T08:08:10.123+01:00"}, [1.0]),
        ({"Seconds": 0}, {}, []),
    ],
)
def test_wait_state(wait: dict[str, Any], data: Any, expected_sleep: list[float]) -> None:
    # Given a Wait by seconds or until a timestamp (the clock reads 2024-05-06T07:08:09.123Z)
    sleeps: list[float] = []
    definition = machine({"W": {"Type": "Wait", **wait, "Next": "Done"}, "Done": {"Type": "Succeed"}})
    # When run, Then it sleeps the right time (a timestamp in the past does not wait) and passes its input on
    result = execute(definition, data, sleep=sleeps.append)
    assert sleeps == expected_sleep
    assert result == ExecutionResult("SUCCEEDED", data)


@pytest.mark.parametrize(
    ("wait", "data"),
    [
        ({"SecondsPath": "$.d"}, {"d": -1}),
        ({"SecondsPath": "$.d"}, {"d": "5"}),
        ({"TimestampPath": "$.d"}, {"d": "soon"}),
    ],
)
def test_wait_paths_must_select_valid_values(wait: dict[str, Any], data: Any) -> None:
    # Given a SecondsPath or TimestampPath selecting a bad value, When run, Then States.Runtime
    result = execute(machine({"W": {"Type": "Wait", **wait, "End": True}}), data, sleep=lambda s: None)
    assert result.error == "States.Runtime"


def test_succeed_applies_input_and_output_paths() -> None:
    # Given a Succeed with InputPath and OutputPath, Then its output is the selection of the selection
    state = {"Type": "Succeed", "InputPath": "$.a", "OutputPath": "$.b"}
    assert execute(machine({"S": state}), {"a": {"b": 5}}) == ExecutionResult("SUCCEEDED", 5)


def test_fail_state_with_literal_and_dynamic_error_and_cause() -> None:
    # Given the spec's Fail state, When reached, Then the execution fails with its Error and Cause
    literal = {"Type": "Fail", "Error": "ErrorA", "Cause": "Kaiju attack"}
    assert execute(machine({"F": literal}), {}) == ExecutionResult(
        "FAILED", error="ErrorA", cause="Kaiju attack"
    )
    # And ErrorPath/CausePath take a reference path or an intrinsic function
    dynamic = {"Type": "Fail", "ErrorPath": "$.Error", "CausePath": "States.Format('code {}', $.code)"}
    result = execute(machine({"F": dynamic}), {"Error": "Bad", "code": 42})
    assert (result.error, result.cause) == ("Bad", "code 42")


def test_choice_routes_by_rules_then_default_and_fails_when_nothing_matches() -> None:
    # Given a Choice with a rule, a Default and an OutputPath
    choice = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"}],
        "Default": "Small",
        "OutputPath": "$.n",
    }
    states = {
        "C": choice,
        "Big": {"Type": "Pass", "Result": "big", "End": True},
        "Small": {"Type": "Succeed"},
    }
    # When run, Then a matching rule wins, and otherwise Default is taken (the output went through OutputPath)
    assert execute(machine(states), {"n": 11}).output == "big"
    assert execute(machine(states), {"n": 1}).output == 1
    # And without a Default, no match is States.NoChoiceMatched
    no_default = machine({"C": {k: v for k, v in choice.items() if k != "Default"}, "Big": states["Big"]})
    assert execute(no_default, {"n": 1}).error == "States.NoChoiceMatched"


# --- the context object -------------------------------------------------------------------------------


def test_the_context_object_reaches_parameters_and_the_invoker() -> None:
    # Given a state machine named "analyze" whose task reads the context in its Parameters
    tasks = Tasks(fn="done")
    params = {"exec.$": "$$.Execution.Name", "sm.$": "$$.StateMachine.Name", "input.$": "$$.Execution.Input"}
    definition = machine({"Start": {"Type": "Pass", "Next": "Work"}, "Work": task("fn", Parameters=params)})
    # When run with an execution name
    Executor(definition, tasks, name="analyze", clock=lambda: NOW).run({"k": "v"}, execution_name="run-1")
    # Then the payload and the invoker's context describe the execution, the machine and the state
    assert tasks.calls[0].parameters == {"exec": "run-1", "sm": "analyze", "input": {"k": "v"}}
    context = tasks.calls[0].context
    assert context["Execution"] == {
        "Id": "arn:aws:states:local:000000000000:execution:analyze:run-1",
        "Name": "run-1",
        "Input": {"k": "v"},
        "StartTime": "2024-05-06T07:08:09.123Z",
        "RedriveCount": 0,
    }
    assert context["StateMachine"] == {
        "Id": "arn:aws:states:local:000000000000:stateMachine:analyze",
        "Name": "analyze",
    }
    assert context["State"] == {"Name": "Work", "EnteredTime": "2024-05-06T07:08:09.123Z", "RetryCount": 0}


def test_execution_names_default_to_a_uuid() -> None:
    # Given no execution name, When run, Then the context names the execution with a fresh UUID
    tasks = Tasks(fn=1)
    Executor(machine({"T": task("fn")}), tasks).run({})
    assert len(tasks.calls[0].context["Execution"]["Name"]) == 36


# --- Task: resource, timeout, errors ------------------------------------------------------------------


def test_the_invoker_gets_the_substituted_resource_and_the_timeout() -> None:
    # Given tasks with TimeoutSeconds, TimeoutSecondsPath and none, and a ${...} resource
    tasks = Tasks(**{"arn:fn": 1})
    states = {
        "A": task("${Fn}", TimeoutSeconds=30, Next="B", ResultPath=None),
        "B": task("${Fn}", TimeoutSecondsPath="$.limit", Next="C", ResultPath=None),
        "C": task("${Fn}"),
    }
    # When run
    execute(machine(states), {"limit": 5}, tasks, substitutions={"Fn": "arn:fn"})
    # Then each call names the substituted resource and the timeout the definition sets (None if none)
    assert [(c.resource, c.timeout_seconds) for c in tasks.calls] == [
        ("arn:fn", 30),
        ("arn:fn", 5),
        ("arn:fn", None),
    ]


def test_a_timeout_seconds_path_must_select_a_positive_integer() -> None:
    # Given a TimeoutSecondsPath selecting 0, When run, Then States.Runtime
    result = execute(machine({"A": task("fn", TimeoutSecondsPath="$.t")}), {"t": 0}, Tasks(fn=1))
    assert result.error == "States.Runtime"


def test_an_exception_becomes_an_error_named_after_its_class() -> None:
    # Given an invoker raising a plain exception, and one raising a StatesError
    class UnsupportedMedia(Exception):
        pass

    # When run, Then the class name is the error and the message the cause (as Lambda's errorType)
    result = execute(machine({"T": task("fn")}), {}, Tasks(fn=UnsupportedMedia("not a video")))
    assert result == ExecutionResult("FAILED", error="UnsupportedMedia", cause="not a video")
    result = execute(machine({"T": task("fn")}), {}, Tasks(fn=StatesError("States.Timeout", "took too long")))
    assert (result.error, result.cause) == ("States.Timeout", "took too long")


def test_a_result_that_is_not_json_is_a_runtime_error() -> None:
    # Given an invoker returning a Python object JSON cannot hold, When run, Then States.Runtime
    assert execute(machine({"T": task("fn")}), {}, Tasks(fn={1, 2})).error == "States.Runtime"


def test_the_invoker_cannot_change_the_state_data_it_was_given() -> None:
    # Given an invoker that mutates its parameters, When the input is passed on with ResultPath null
    def mutate(parameters: dict[str, Any]) -> str:
        parameters["items"].append("mutated")
        return "ok"

    result = execute(machine({"T": task("fn", ResultPath=None)}), {"items": [1]}, Tasks(fn=mutate))
    # Then the state's own data is unchanged
    assert result.output == {"items": [1]}


# --- Retry -------------------------------------------------------------------------------------------


def retrying(
    retry: list[dict[str, Any]], tasks: Tasks, catch: list[dict[str, Any]] | None = None
) -> tuple[ExecutionResult, list[float]]:
    sleeps: list[float] = []
    states = {"X": task("fn", Retry=retry, Next="Done"), "Done": {"Type": "Pass", "End": True}}
    if catch:
        states["X"]["Catch"] = catch
        states["Z"] = {"Type": "Pass", "End": True}
    return execute(machine(states), {"in": 1}, tasks, sleep=sleeps.append), sleeps


def test_retry_defaults_wait_1_2_4_seconds_then_give_up() -> None:
    # Given a retrier with only ErrorEquals (IntervalSeconds 1, MaxAttempts 3, BackoffRate 2.0 by default)
    tasks = Tasks(fn=StatesError("Flaky", "again"))
    # When the task keeps failing
    result, sleeps = retrying([{"ErrorEquals": ["Flaky"]}], tasks)
    # Then it is tried 4 times, waiting 1, 2 and 4 seconds, and the last error fails the execution
    assert sleeps == [1, 2, 4]
    assert len(tasks.calls) == 4
    assert result == ExecutionResult("FAILED", error="Flaky", cause="again")


def test_retry_example_of_the_spec_and_its_max_delay_variant() -> None:
    # Given the spec's retrier: 2 retries after 3 and 6 seconds
    retrier = {"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 3, "MaxAttempts": 2, "BackoffRate": 2.0}
    _, sleeps = retrying([retrier], Tasks(fn=StatesError("States.Timeout")))
    assert sleeps == [3, 6]
    # And with MaxDelaySeconds 4 the second wait is capped at 4 seconds, as the spec says
    _, sleeps = retrying([{**retrier, "MaxDelaySeconds": 4}], Tasks(fn=StatesError("States.Timeout")))
    assert sleeps == [3, 4]


def test_max_delay_caps_every_later_interval() -> None:
    # Given a backoff that would grow to 16s, capped at 5s, When retried 5 times, Then waits stop growing at 5
    retrier = {"ErrorEquals": ["E"], "IntervalSeconds": 1, "MaxAttempts": 5, "MaxDelaySeconds": 5}
    _, sleeps = retrying([retrier], Tasks(fn=StatesError("E")))
    assert sleeps == [1, 2, 4, 5, 5]


def test_full_jitter_draws_each_wait_between_zero_and_the_backoff_interval() -> None:
    # Given FULL jitter on a 2, 4, 8 backoff, When retried, Then each wait lies in [0, nominal]
    retrier = {"ErrorEquals": ["E"], "IntervalSeconds": 2, "JitterStrategy": "FULL"}
    _, sleeps = retrying([retrier], Tasks(fn=StatesError("E")))
    assert len(sleeps) == 3
    assert all(0 <= wait <= limit for wait, limit in zip(sleeps, [2, 4, 8], strict=True))


def test_the_complex_retry_scenario_of_the_spec() -> None:
    # Given the spec's two retriers and catch-all catcher, and a task failing ErrorA, ErrorB, ErrorC, ErrorB
    errors = iter(
        [StatesError("ErrorA"), StatesError("ErrorB"), StatesError("ErrorC"), StatesError("ErrorB")]
    )
    retry = [
        {"ErrorEquals": ["ErrorA", "ErrorB"], "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 2},
        {"ErrorEquals": ["ErrorC"], "IntervalSeconds": 5},
    ]
    # When run
    result, sleeps = retrying(retry, Tasks(fn=errors), catch=[{"ErrorEquals": ["States.ALL"], "Next": "Z"}])
    # Then the waits are 1, 2 and 5 seconds, and the fourth error (first retrier exhausted) goes to Z
    assert sleeps == [1, 2, 5]
    assert result == ExecutionResult("SUCCEEDED", {"Error": "ErrorB", "Cause": ""})


def test_max_attempts_zero_never_retries_as_in_the_spec() -> None:
    # Given the spec's "retry anything except States.Timeout" pair of retriers
    retry: list[dict[str, Any]] = [
        {"ErrorEquals": ["States.Timeout"], "MaxAttempts": 0},
        {"ErrorEquals": ["States.ALL"]},
    ]
    # When the task times out, Then it is not retried at all
    tasks = Tasks(fn=StatesError("States.Timeout"))
    _, sleeps = retrying(retry, tasks)
    assert (sleeps, len(tasks.calls)) == ([], 1)
    # And another error is retried by the catch-all retrier
    tasks = Tasks(fn=iter([ValueError("x"), "ok"]))
    result, sleeps = retrying(retry, tasks)
    assert (sleeps, result.output) == ([1], "ok")


def test_a_retried_task_sees_its_retry_count_and_may_succeed() -> None:
    # Given a task that fails twice then succeeds
    tasks = Tasks(fn=iter([StatesError("E"), StatesError("E"), {"done": True}]))
    # When retried
    result, _ = retrying([{"ErrorEquals": ["E"]}], tasks)
    # Then the context's State.RetryCount counts the retries, and the third attempt's result is the output
    assert [c.context["State"]["RetryCount"] for c in tasks.calls] == [0, 1, 2]
    assert result == ExecutionResult("SUCCEEDED", {"done": True})


def test_task_failed_matches_every_task_error_but_a_timeout() -> None:
    # Given a retrier on States.TaskFailed
    retry = [{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 1}]
    # When the task raises an ordinary error, Then it is retried
    _, sleeps = retrying(retry, Tasks(fn=RuntimeError("x")))
    assert sleeps == [1]
    # And when it times out, Then it is not
    _, sleeps = retrying(retry, Tasks(fn=StatesError("States.Timeout")))
    assert sleeps == []


# --- Catch -------------------------------------------------------------------------------------------


def test_a_catcher_places_the_error_output_at_its_result_path_as_in_the_spec() -> None:
    # Given the spec's catchers: java.lang.Exception to RecoveryState at "$.error-info", else to EndMachine
    catch = [
        {"ErrorEquals": ["java.lang.Exception"], "ResultPath": "$.error-info", "Next": "RecoveryState"},
        {"ErrorEquals": ["States.ALL"], "Next": "EndMachine"},
    ]
    states = {
        "X": task("fn", Catch=catch),
        "RecoveryState": {"Type": "Pass", "End": True},
        "EndMachine": {"Type": "Pass", "End": True},
    }
    # When the task throws java.lang.Exception, Then RecoveryState gets the input plus the error output
    result = execute(machine(states), {"order": 1}, Tasks(fn=StatesError("java.lang.Exception", "NPE")))
    assert result.output == {"order": 1, "error-info": {"Error": "java.lang.Exception", "Cause": "NPE"}}
    # And any other error sends just the error output to EndMachine (ResultPath defaults to "$")
    result = execute(machine(states), {"order": 1}, Tasks(fn=KeyError("k")))
    assert result.output == {"Error": "KeyError", "Cause": "'k'"}


def test_retry_comes_before_catch() -> None:
    # Given a state with both a retrier and a catcher for the same error
    tasks = Tasks(fn=StatesError("E"))
    result, sleeps = retrying(
        [{"ErrorEquals": ["E"], "MaxAttempts": 2}], tasks, catch=[{"ErrorEquals": ["E"], "Next": "Z"}]
    )
    # When the task keeps failing, Then the retries run out first and then the catcher takes over
    assert (sleeps, len(tasks.calls)) == ([1, 2], 3)
    assert result.output == {"Error": "E", "Cause": ""}


def test_an_oversized_output_fails_with_data_limit_exceeded_which_cannot_be_caught() -> None:
    # Given a 100-byte payload limit, a task returning more, and a catch-all catcher
    state = task("fn", Next="Done", Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Done"}])
    definition = machine({"X": state, "Done": {"Type": "Succeed"}})
    # When run, Then the execution fails with States.DataLimitExceeded, uncaught
    result = execute(definition, {}, Tasks(fn="x" * 200), max_payload_bytes=100)
    assert result.status == "FAILED"
    assert result.error == "States.DataLimitExceeded"
    # And a payload within the limit passes (the size counts UTF-8 bytes of the JSON text)
    assert execute(definition, {}, Tasks(fn="é" * 40), max_payload_bytes=100).status == "SUCCEEDED"
    assert execute(definition, {}, Tasks(fn="é" * 60), max_payload_bytes=100).status == "FAILED"


def test_an_intrinsic_failure_can_be_caught() -> None:
    # Given Parameters whose intrinsic fails on this input, and a catcher for it
    state = task(
        "fn",
        Parameters={"x.$": "States.StringToJson($.text)"},
        Next="Done",
        Catch=[{"ErrorEquals": ["States.IntrinsicFailure"], "ResultPath": "$.err", "Next": "Done"}],
    )
    definition = machine({"X": state, "Done": {"Type": "Succeed"}})
    # When run, Then the catcher receives States.IntrinsicFailure and the task never ran
    tasks = Tasks(fn=1)
    result = execute(definition, {"text": "{bad"}, tasks)
    assert result.output["err"]["Error"] == "States.IntrinsicFailure"
    assert tasks.calls == []


# --- listener, input validation, the real definition --------------------------------------------------


def test_the_listener_sees_states_enter_exit_retry_and_fail_and_cannot_break_the_run() -> None:
    # Given a listener recording events (and raising on every exit)
    events: list[tuple[Any, ...]] = []

    class Recorder(ExecutionListener):
        def state_entered(self, name: str, input: Any) -> None:
            events.append(("entered", name))

        def state_exited(self, name: str, output: Any) -> None:
            events.append(("exited", name))
            raise RuntimeError("a broken hook")

        def state_retried(
            self, name: str, error: StatesError, retry_count: int, delay_seconds: float
        ) -> None:
            events.append(("retried", name, error.error, retry_count, delay_seconds))

        def state_failed(self, name: str, error: StatesError, next_state: str | None) -> None:
            events.append(("failed", name, error.error, next_state))

    state = task(
        "fn", Retry=[{"ErrorEquals": ["E"], "MaxAttempts": 1}], Catch=[{"ErrorEquals": ["E"], "Next": "F"}]
    )
    definition = machine({"X": {**state, "End": False, "Next": "F"}, "F": {"Type": "Fail", "Error": "Final"}})
    # When the task fails twice and is caught, and the Fail state ends the run
    result = execute(definition, {}, Tasks(fn=StatesError("E")), listener=Recorder(), sleep=lambda s: None)
    # Then the events tell the story in order, and the broken hook changed nothing
    assert events == [
        ("entered", "X"),
        ("retried", "X", "E", 1, 1.0),
        ("failed", "X", "E", "F"),
        ("exited", "X"),
        ("entered", "F"),
        ("failed", "F", "Final", None),
    ]
    assert result.error == "Final"


def test_input_that_is_not_json_is_refused() -> None:
    # Given a Python object JSON cannot hold, When run, Then ValueError before anything starts
    with pytest.raises(ValueError, match="not JSON"):
        Executor(machine({"P": {"Type": "Pass", "End": True}}), Tasks()).run({"when": datetime.now(UTC)})


def analyze_executor(tasks: Tasks) -> Executor:
    text = ANALYZE.read_text()
    substitutions = {name: f"local:{name}" for name in re.findall(r"\$\{(\w+)\}", text)}
    return Executor(text, tasks, substitutions=substitutions, sleep=lambda s: None)


def test_the_analysis_state_machine_runs_end_to_end() -> None:
    # Given the project's analysis definition and tasks planning every analysis
    tasks = Tasks(
        **{
            "local:IngestFunctionArn": {"input_key": "in/j1"},
            "local:ProbeMediaFunctionArn": {
                "scenes": True,
                "keyframes": True,
                "audio": True,
                "transcribe": True,
                "chunks": [{"index": 0, "count": 1, "start": None, "end": None}],
                "chunk_concurrency": 1,
                "distributed": False,
            },
            "local:AnalyzeChunkFunctionArn": {},
            "local:MergeChunksFunctionArn": {},
            "local:PickKeyframesFunctionArn": {},
            "local:ExtractAudioFunctionArn": {},
            "arn:aws:states:::batch:submitJob.sync": {},
            "local:FinalizeFunctionArn": {},
        }
    )
    # When run for one job
    result = analyze_executor(tasks).run({"job_id": "j1"})
    # Then every step ran once with the parameters the definition builds, and the job succeeded
    assert result.status == "SUCCEEDED"
    assert sorted(tasks.resources()) == sorted(tasks.handlers)
    transcribe = next(c for c in tasks.calls if c.resource.startswith("arn:aws:states:::batch"))
    assert transcribe.parameters == {
        "JobName": "transcribe-j1",
        "JobDefinition": "local:TranscribeJobDefinitionArn",
        "JobQueue": "local:GpuJobQueueArn",
        "Parameters": {"job_id": "j1"},
    }
    assert transcribe.timeout_seconds == 7200


def test_the_analysis_state_machine_records_a_failure_and_fails() -> None:
    # Given the analysis definition, and probing that fails with a non-retried error
    class UnsupportedMedia(Exception):
        pass

    tasks = Tasks(
        **{
            "local:IngestFunctionArn": {"input_key": "in/j2"},
            "local:ProbeMediaFunctionArn": UnsupportedMedia("no video stream"),
            "local:RecordFailureFunctionArn": {},
        }
    )
    # When run
    result = analyze_executor(tasks).run({"job_id": "j2"})
    # Then the failure is recorded with the error output, and the execution fails with the recorded cause
    record = tasks.calls[-1]
    assert record.parameters == {
        "job_id": "j2",
        "error": {"Error": "UnsupportedMedia", "Cause": "no video stream"},
    }
    assert result == ExecutionResult("FAILED", error="JobFailed", cause="no video stream")
