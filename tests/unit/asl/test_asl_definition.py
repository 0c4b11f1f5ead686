"""Definition checks: what Step Functions would refuse at creation is refused before anything runs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from reelstep.asl import Executor, InvalidDefinition

ANALYZE = Path(__file__).parents[3] / "infrastructure" / "statemachines" / "analyze.asl.json"


def never_called(
    resource: str, parameters: Any, *, timeout_seconds: float | None, context: dict[str, Any]
) -> Any:
    raise AssertionError("no task runs while a definition is checked")


def machine(states: dict[str, Any], start: str | None = None, **top: Any) -> dict[str, Any]:
    return {"StartAt": start or next(iter(states)), "States": states, **top}


def rejected(definition: dict[str, Any] | str, **kwargs: Any) -> str:
    with pytest.raises(InvalidDefinition) as failure:
        Executor(definition, never_called, **kwargs)
    return str(failure.value)


PASS_END = {"Type": "Pass", "End": True}


def test_the_real_analysis_definition_loads_once_its_placeholders_are_substituted() -> None:
    # Given the project's analysis state machine and a value for each placeholder
    text = ANALYZE.read_text()
    names = {
        "IngestFunctionArn",
        "ProbeMediaFunctionArn",
        "AnalyzeChunkFunctionArn",
        "MergeChunksFunctionArn",
        "PickKeyframesFunctionArn",
        "ExtractAudioFunctionArn",
        "AudioFeaturesFunctionArn",
        "StorylinesFunctionArn",
        "TranscribeJobDefinitionArn",
        "CaptionJobDefinitionArn",
        "RenderJobDefinitionArn",
        "GpuJobQueueArn",
        "FinalizeFunctionArn",
        "RecordFailureFunctionArn",
    }
    # When it is loaded, Then it compiles with all its states
    executor = Executor(text, never_called, substitutions={name: f"local:{name}" for name in names})
    assert executor.machine.start_at == "Ingest Source"
    assert "Record Failure" in executor.machine.states


def test_unresolved_placeholders_are_all_named() -> None:
    # Given a definition with two placeholders and a value for only one
    definition = machine(
        {"A": {"Type": "Task", "Resource": "${One}", "Next": "B"}, "B": {**PASS_END, "Comment": "${Two}"}}
    )
    # When loaded, Then the one left over is named
    message = rejected(definition, substitutions={"One": "arn:one"})
    assert "${Two}" in message
    assert "${One}" not in message


@pytest.mark.parametrize(
    ("states", "fragment"),
    [
        ({"A": {"Type": "Pasta", "End": True}}, "State 'A': unknown state type 'Pasta'"),
        ({"A": {"Type": "Pass"}}, "State 'A': must have a 'Next' or"),
        ({"A": {"Type": "Pass", "Next": "A", "End": True}}, "State 'A': 'Next' and"),
        ({"A": {"Type": "Pass", "Next": "Nowhere"}}, "State 'A': Next 'Nowhere' names no state"),
        ({"A": {**PASS_END, "ResultPth": "$.x"}}, "State 'A': unknown field 'ResultPth'"),
        ({"A": {"Type": "Succeed", "Next": "A"}}, "State 'A': unknown field 'Next'"),
        ({"A": {"Type": "Choice", "Choices": []}}, "State 'A': 'Choices' must be a non-empty array"),
        ({"A": {"Type": "Task", "End": True}}, "State 'A': 'Resource' must be a string"),
        ({"A": {"Type": "Wait", "End": True}}, "exactly one of Seconds"),
        ({"A": {"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "End": True}}, "exactly one of Seconds"),
        ({"A": {"Type": "Wait", "Timestamp": "tomorrow", "End": True}}, "not an RFC 3339 timestamp"),
        (
            {"A": {"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}},
            "Error and ErrorPath cannot be used together",
        ),
        ({"A": {**PASS_END, "InputPath": "$.a[?"}}, "State 'A': 'InputPath'"),
        ({"A": {**PASS_END, "ResultPath": "$.a[*]"}}, "not a reference path"),
        ({"A": {**PASS_END, "ResultPath": "$$.Execution"}}, "context object"),
        ({"A": {**PASS_END, "Parameters": {"x.$": "States.Nope()"}}}, "unknown function"),
        ({"A": {**PASS_END, "Parameters": {"x.$": "$.a", "x": 1}}}, "two fields named 'x'"),
        ({"A": {**PASS_END, "Parameters": {"x.$": 5}}}, "must be a path or an intrinsic function"),
        (
            {"A": {"Type": "Task", "Resource": "r", "TimeoutSeconds": 0, "End": True}},
            "'TimeoutSeconds' must be",
        ),
        (
            {"A": {"Type": "Task", "Resource": "r", "TimeoutSeconds": 5, "HeartbeatSeconds": 5, "End": True}},
            "HeartbeatSeconds must be smaller",
        ),
        ({"A": {**PASS_END, "Assign": {"x": 1}}}, "not supported locally"),
        ({"A": {**PASS_END, "QueryLanguage": "JSONata"}}, "JSONPath query language"),
        ({"A": PASS_END, "B": PASS_END}, "State 'B' can never be reached"),
        ({"A": {"Type": "Parallel", "Branches": [], "End": True}}, "'Branches' must be a non-empty array"),
    ],
)
def test_structural_errors_name_the_state(states: dict[str, Any], fragment: str) -> None:
    # Given a definition breaking one rule of the States Language
    # When an Executor is built, Then InvalidDefinition explains the problem and names the state
    assert fragment in rejected(machine(states))


@pytest.mark.parametrize(
    ("policy", "fragment"),
    [
        ({"Retry": [{"ErrorEquals": ["States.ALL", "E"]}]}, "States.ALL must appear alone"),
        ({"Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["E"]}]}, "in the last entry"),
        ({"Retry": [{"ErrorEquals": []}]}, "'ErrorEquals' must be a non-empty array"),
        (
            {"Retry": [{"ErrorEquals": ["E"], "BackoffRate": 0.5}]},
            "'BackoffRate' must be a number of at least 1.0",
        ),
        ({"Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 0}]}, "'IntervalSeconds' must be an integer"),
        ({"Retry": [{"ErrorEquals": ["E"], "MaxAttempts": -1}]}, "'MaxAttempts' must be an integer"),
        ({"Retry": [{"ErrorEquals": ["E"], "JitterStrategy": "SOME"}]}, "FULL or NONE"),
        ({"Retry": [{"ErrorEquals": ["E"], "MaxDelaySeconds": 0}]}, "'MaxDelaySeconds' must be"),
        (
            {"Catch": [{"ErrorEquals": ["States.ALL"], "Next": "B"}, {"ErrorEquals": ["E"], "Next": "B"}]},
            "last",
        ),
        ({"Catch": [{"ErrorEquals": ["E"], "Next": "Nowhere"}]}, "Catch[0].Next 'Nowhere' names no state"),
        ({"Catch": [{"ErrorEquals": ["E"]}]}, "'Next' must be a string"),
    ],
)
def test_retry_and_catch_rules(policy: dict[str, Any], fragment: str) -> None:
    # Given a Task whose Retry or Catch breaks the spec (States.ALL placement, field ranges, targets)
    states = {"A": {"Type": "Task", "Resource": "r", "Next": "B", **policy}, "B": PASS_END}
    # When built, Then the retrier or catcher at fault is named
    message = rejected(machine(states))
    assert fragment in message
    assert "State 'A'" in message


def test_names_must_be_unique_across_branches() -> None:
    # Given a Parallel whose branch reuses a top-level state name
    states = {
        "P": {"Type": "Parallel", "Branches": [{"StartAt": "P", "States": {"P": PASS_END}}], "End": True},
    }
    # When built, Then the duplicate is reported
    assert "used more than once" in rejected(machine(states))


def test_transitions_cannot_leave_a_branch() -> None:
    # Given a branch state whose Next targets a state outside its branch
    states = {
        "P": {
            "Type": "Parallel",
            "Branches": [{"StartAt": "In", "States": {"In": {"Type": "Pass", "Next": "Out"}}}],
            "Next": "Out",
        },
        "Out": PASS_END,
    }
    # When built, Then the dangling transition is reported in the branch's scope
    assert "State 'In': Next 'Out' names no state in branch 0 of state 'P'" in rejected(machine(states))


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"ItemReader": {"Resource": "arn:aws:states:::s3:getObject"}}, "ItemReader (reading items from S3)"),
        ({"ResultWriter": {"Resource": "arn:aws:states:::s3:putObject"}}, "ResultWriter"),
        ({"ItemBatcher": {"MaxItemsPerBatch": 2}}, "ItemBatcher"),
        ({"Iterator": {"StartAt": "I", "States": {"I": PASS_END}}}, "ItemProcessor and Iterator cannot"),
        ({"ItemSelector": {}, "Parameters": {}}, "ItemSelector and Parameters cannot"),
        ({"MaxConcurrency": -1}, "'MaxConcurrency' must be"),
        ({"ToleratedFailurePercentage": 101}, "from 0 to 100"),
    ],
)
def test_map_fields_that_cannot_run_locally_or_are_malformed(extra: dict[str, Any], fragment: str) -> None:
    # Given a Map with a distributed-only or malformed field
    states = {
        "M": {
            "Type": "Map",
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED"},
                "StartAt": "I",
                "States": {"I": PASS_END},
            },
            "End": True,
            **extra,
        }
    }
    # When built, Then it is refused with a clear reason
    assert fragment in rejected(machine(states))


def test_a_distributed_map_without_s3_fields_is_accepted() -> None:
    # Given a DISTRIBUTED Map that reads its items from the input
    processor = {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
        "StartAt": "I",
        "States": {"I": PASS_END},
    }
    # When built, Then it loads (it runs like INLINE locally)
    Executor(machine({"M": {"Type": "Map", "ItemProcessor": processor, "End": True}}), never_called)


def test_top_level_structure() -> None:
    # Given definitions with a broken top level, Then each is refused with its reason
    assert "not valid JSON" in rejected("{not json")
    assert "StartAt 'B' names no state" in rejected(machine({"A": PASS_END}, start="B"))
    assert "'States' must be a non-empty JSON object" in rejected({"StartAt": "A", "States": {}})
    assert "'TimeoutSeconds' must be an integer" in rejected(machine({"A": PASS_END}, TimeoutSeconds=0))
    long_name = "x" * 81
    assert "1 to 80 characters" in rejected(machine({long_name: PASS_END}))


def test_the_definition_is_not_changed_by_loading() -> None:
    # Given a definition dict with placeholders, When loaded with substitutions, Then the dict is intact
    definition = machine({"A": {"Type": "Task", "Resource": "${Fn}", "End": True}})
    before = copy.deepcopy(definition)
    Executor(definition, never_called, substitutions={"Fn": "arn:fn"})
    assert definition == before
    assert json.dumps(definition) == json.dumps(before)
