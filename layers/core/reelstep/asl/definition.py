"""Load, check and compile a state machine definition before anything runs.

Everything Step Functions would reject when the machine is created is rejected here too, with the state
named: unknown types or fields, missing or dangling transitions, misplaced States.ALL, malformed paths,
templates and choice rules, unreachable states, and placeholders left over after substitution.
Features that only exist against AWS (ItemReader, ResultWriter, ItemBatcher) and the JSONata/variables
dialect are refused with a 'not supported locally' message rather than half-run.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reelstep.asl.choice import ChoiceRule, RuleError, compile_rule
from reelstep.asl.errors import ALL, InvalidDefinition
from reelstep.asl.intrinsics import IntrinsicCall, IntrinsicSyntaxError, looks_like_intrinsic, parse_intrinsic
from reelstep.asl.paths import JsonPath, PathSyntaxError, parse_path, parse_reference_path
from reelstep.asl.templates import PayloadTemplate, TemplateError, compile_template
from reelstep.asl.values import is_integer, is_number, parse_timestamp

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_MAX_STATE_NAME = 80
_ROOT = parse_path("$")

_COMMON = {"Type", "Comment", "QueryLanguage"}
_FLOW = {"Next", "End"}
_IO = {"InputPath", "OutputPath"}
_RESULTS = {"ResultSelector", "ResultPath", "Retry", "Catch"}
_FIELDS: dict[str, set[str]] = {
    "Pass": _COMMON | _FLOW | _IO | {"Parameters", "Result", "ResultPath"},
    "Task": _COMMON
    | _FLOW
    | _IO
    | _RESULTS
    | {
        "Parameters",
        "Resource",
        "TimeoutSeconds",
        "TimeoutSecondsPath",
        "HeartbeatSeconds",
        "HeartbeatSecondsPath",
        "Credentials",
    },
    "Choice": _COMMON | _IO | {"Choices", "Default"},
    "Wait": _COMMON | _FLOW | _IO | {"Seconds", "SecondsPath", "Timestamp", "TimestampPath"},
    "Succeed": _COMMON | _IO,
    "Fail": _COMMON | {"Error", "ErrorPath", "Cause", "CausePath"},
    "Parallel": _COMMON | _FLOW | _IO | _RESULTS | {"Parameters", "Branches"},
    "Map": _COMMON
    | _FLOW
    | _IO
    | _RESULTS
    | {
        "Parameters",
        "ItemSelector",
        "ItemsPath",
        "ItemProcessor",
        "Iterator",
        "MaxConcurrency",
        "MaxConcurrencyPath",
        "ToleratedFailureCount",
        "ToleratedFailureCountPath",
        "ToleratedFailurePercentage",
        "ToleratedFailurePercentagePath",
        "Label",
    },
}
_NOT_LOCAL = {
    "Assign": "state machine variables (Assign) are not supported locally",
    "Arguments": "JSONata (Arguments) is not supported locally; use JSONPath fields",
    "Output": "JSONata (Output) is not supported locally; use JSONPath fields",
    "Items": "JSONata (Items) is not supported locally; use ItemsPath",
    "ItemReader": "ItemReader (reading items from S3) is not supported locally",
    "ResultWriter": "ResultWriter (writing results to S3) is not supported locally",
    "ItemBatcher": "ItemBatcher is not supported locally",
}


@dataclass(frozen=True)
class Retrier:
    """One entry of a Retry array; ``delay`` gives the wait before a given retry of this retrier."""

    error_equals: tuple[str, ...]
    interval_seconds: int = 1
    max_attempts: int = 3
    backoff_rate: float = 2.0
    max_delay_seconds: int | None = None
    full_jitter: bool = False

    def delay(self, retries_so_far: int) -> float:
        seconds = self.interval_seconds * self.backoff_rate**retries_so_far
        if self.max_delay_seconds is not None:
            seconds = min(seconds, self.max_delay_seconds)
        return random.uniform(0, seconds) if self.full_jitter else float(seconds)


@dataclass(frozen=True)
class Catcher:
    error_equals: tuple[str, ...]
    next: str
    result_path: JsonPath | None  # None: ResultPath null, the error output is discarded


@dataclass(frozen=True, kw_only=True)
class State:
    """Fields every state type has; None for a path means the definition set it to null."""

    name: str
    next: str | None = None
    end: bool = False
    input_path: JsonPath | None = _ROOT
    output_path: JsonPath | None = _ROOT


@dataclass(frozen=True, kw_only=True)
class PassState(State):
    parameters: PayloadTemplate | None = None
    has_result: bool = False
    result: Any = None
    result_path: JsonPath | None = _ROOT


@dataclass(frozen=True, kw_only=True)
class WorkState(State):
    """Task, Parallel and Map: states that produce a result and may retry and catch errors."""

    result_selector: PayloadTemplate | None = None
    result_path: JsonPath | None = _ROOT
    retry: tuple[Retrier, ...] = ()
    catch: tuple[Catcher, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TaskState(WorkState):
    resource: str
    parameters: PayloadTemplate | None = None
    timeout_seconds: int | None = None
    timeout_seconds_path: JsonPath | None = None


@dataclass(frozen=True, kw_only=True)
class ChoiceState(State):
    choices: tuple[tuple[ChoiceRule, str], ...]
    default: str | None = None


@dataclass(frozen=True, kw_only=True)
class WaitState(State):
    seconds: int | None = None
    seconds_path: JsonPath | None = None
    timestamp: datetime | None = None
    timestamp_path: JsonPath | None = None


@dataclass(frozen=True, kw_only=True)
class SucceedState(State):
    pass


@dataclass(frozen=True, kw_only=True)
class FailState(State):
    error: str | JsonPath | IntrinsicCall | None = None
    cause: str | JsonPath | IntrinsicCall | None = None


@dataclass(frozen=True, kw_only=True)
class ParallelState(WorkState):
    branches: tuple[Machine, ...]
    parameters: PayloadTemplate | None = None


@dataclass(frozen=True, kw_only=True)
class MapState(WorkState):
    processor: Machine
    items_path: JsonPath = _ROOT
    item_selector: PayloadTemplate | None = None
    max_concurrency: int | JsonPath = 0
    tolerated_failure_count: int | JsonPath | None = None
    tolerated_failure_percentage: float | JsonPath | None = None


@dataclass(frozen=True)
class Machine:
    """A state machine, a Parallel branch or a Map's item processor."""

    start_at: str
    states: Mapping[str, State]
    timeout_seconds: int | None = None


def load_definition(definition: Mapping[str, Any] | str, substitutions: Mapping[str, str] | None) -> Machine:
    """Parse (if text), substitute ``${Name}`` placeholders, check and compile a definition."""
    if isinstance(definition, str):
        try:
            raw: Any = json.loads(definition)
        except json.JSONDecodeError as exc:
            raise InvalidDefinition(f"the definition is not valid JSON: {exc}") from None
    else:
        raw = definition
    raw = _substitute(raw, substitutions or {})
    unresolved = sorted(set(_placeholders(raw)))
    if unresolved:
        names = ", ".join(f"${{{name}}}" for name in unresolved)
        raise InvalidDefinition(f"unresolved definition substitutions: {names}")
    return _Loader().machine(raw, "the state machine", top_level=True)


def _substitute(raw: Any, substitutions: Mapping[str, str]) -> Any:
    if isinstance(raw, str):
        return _PLACEHOLDER.sub(lambda m: substitutions.get(m.group(1), m.group(0)), raw)
    if isinstance(raw, list):
        return [_substitute(item, substitutions) for item in raw]
    if isinstance(raw, dict):
        return {
            _substitute(key, substitutions): _substitute(value, substitutions) for key, value in raw.items()
        }
    return raw


def _placeholders(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return _PLACEHOLDER.findall(raw)
    if isinstance(raw, list):
        return [name for item in raw for name in _placeholders(item)]
    if isinstance(raw, dict):
        return [name for key, value in raw.items() for name in (*_placeholders(key), *_placeholders(value))]
    return []


class _Fields:
    """Typed, checked access to one JSON object of the definition; errors name where it is."""

    def __init__(self, where: str, raw: Any) -> None:
        if not isinstance(raw, dict):
            raise InvalidDefinition(f"{where}: must be a JSON object")
        self.where = where
        self.raw: dict[str, Any] = raw

    def fail(self, why: str) -> InvalidDefinition:
        return InvalidDefinition(f"{self.where}: {why}")

    def has(self, key: str) -> bool:
        return key in self.raw

    def allow_only(self, allowed: set[str], what: str) -> None:
        for key in self.raw:
            if key in _NOT_LOCAL:
                raise self.fail(_NOT_LOCAL[key])
            if key not in allowed:
                raise self.fail(f"unknown field {key!r} for {what}")
        if self.raw.get("QueryLanguage", "JSONPath") != "JSONPath":
            raise self.fail("only the JSONPath query language is supported locally")

    def exclusive(self, *keys: str) -> None:
        present = [key for key in keys if key in self.raw]
        if len(present) > 1:
            raise self.fail(f"{' and '.join(present)} cannot be used together")

    def string(self, key: str) -> str | None:
        return self.required_string(key) if key in self.raw else None

    def required_string(self, key: str) -> str:
        value = self.raw.get(key)
        if not isinstance(value, str):
            raise self.fail(f"{key!r} must be a string")
        return value

    def integer(self, key: str, *, minimum: int) -> int | None:
        if key not in self.raw:
            return None
        value = self.raw[key]
        if not is_integer(value) or value < minimum:
            raise self.fail(f"{key!r} must be an integer of at least {minimum}, got {value!r}")
        return int(value)

    def path(self, key: str) -> JsonPath | None:
        """A Path field where null means 'nothing' (InputPath, OutputPath); absent means '$'."""
        if key not in self.raw:
            return _ROOT
        if self.raw[key] is None:
            return None
        return self.parse(key, parse_path)

    def result_path(self) -> JsonPath | None:
        """ResultPath: a reference path into the state's input (never the context); null discards."""
        if "ResultPath" not in self.raw:
            return _ROOT
        if self.raw["ResultPath"] is None:
            return None
        return self.parse("ResultPath", lambda text: parse_reference_path(text, allow_context=False))

    def reference_path(self, key: str) -> JsonPath | None:
        return self.parse(key, parse_reference_path) if key in self.raw else None

    def parse(self, key: str, parser: Callable[[str], JsonPath]) -> JsonPath:
        value = self.raw[key]
        if not isinstance(value, str):
            raise self.fail(f"{key!r} must be a path string")
        try:
            return parser(value)
        except PathSyntaxError as exc:
            raise self.fail(f"{key!r}: {exc}") from None

    def template(self, key: str) -> PayloadTemplate | None:
        if key not in self.raw:
            return None
        try:
            return compile_template(self.raw[key])
        except TemplateError as exc:
            raise self.fail(f"{key!r}: {exc}") from None


class _Loader:
    """Compiles machines recursively, keeping state names unique across the whole definition."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def machine(self, raw: Any, where: str, *, top_level: bool = False, processor: bool = False) -> Machine:
        fields = _Fields(where, raw)
        allowed = {"StartAt", "States", "Comment"}
        if top_level:
            allowed |= {"Version", "TimeoutSeconds", "QueryLanguage"}
        if processor:
            allowed |= {"ProcessorConfig"}
        fields.allow_only(allowed, where)
        if processor and fields.has("ProcessorConfig"):
            _processor_config(_Fields(f"{where} ProcessorConfig", raw["ProcessorConfig"]))
        start_at = fields.required_string("StartAt")
        raw_states = raw.get("States")
        if not isinstance(raw_states, dict) or not raw_states:
            raise fields.fail("'States' must be a non-empty JSON object")
        states: dict[str, State] = {}
        for name, body in raw_states.items():
            if not 0 < len(name) <= _MAX_STATE_NAME:
                raise InvalidDefinition(f"State name {name!r} must be 1 to {_MAX_STATE_NAME} characters long")
            if name in self.names:
                raise InvalidDefinition(f"State {name!r}: the name is used more than once in the definition")
            self.names.add(name)
            states[name] = self.state(name, body)
        if start_at not in states:
            raise fields.fail(f"StartAt {start_at!r} names no state in {where}")
        _check_transitions(states, start_at, where)
        return Machine(
            start_at=start_at,
            states=states,
            timeout_seconds=fields.integer("TimeoutSeconds", minimum=1),
        )

    def state(self, name: str, raw: Any) -> State:
        fields = _Fields(f"State {name!r}", raw)
        kind = raw.get("Type")
        if not isinstance(kind, str) or kind not in _FIELDS:
            raise fields.fail(f"unknown state type {kind!r}; expected one of {', '.join(_FIELDS)}")
        fields.allow_only(_FIELDS[kind], f"a {kind} state")
        common: dict[str, Any] = {"name": name}
        if kind in ("Pass", "Task", "Wait", "Parallel", "Map"):
            common["next"], common["end"] = _transition(fields)
        if kind != "Fail":
            common["input_path"] = fields.path("InputPath")
            common["output_path"] = fields.path("OutputPath")
        if kind == "Pass":
            return PassState(
                **common,
                parameters=fields.template("Parameters"),
                has_result=fields.has("Result"),
                result=raw.get("Result"),
                result_path=fields.result_path(),
            )
        if kind == "Task":
            return self.task(fields, common)
        if kind == "Choice":
            return _choice(fields, common)
        if kind == "Wait":
            return _wait(fields, common)
        if kind == "Succeed":
            return SucceedState(**common)
        if kind == "Fail":
            return _fail(fields, common)
        if kind == "Parallel":
            branches = raw.get("Branches")
            if not isinstance(branches, list) or not branches:
                raise fields.fail("'Branches' must be a non-empty array")
            return ParallelState(
                **common,
                **_work(fields),
                parameters=fields.template("Parameters"),
                branches=tuple(
                    self.machine(b, f"branch {i} of state {name!r}") for i, b in enumerate(branches)
                ),
            )
        return self.map(fields, common)

    def task(self, fields: _Fields, common: dict[str, Any]) -> TaskState:
        resource = fields.required_string("Resource")
        fields.exclusive("TimeoutSeconds", "TimeoutSecondsPath")
        fields.exclusive("HeartbeatSeconds", "HeartbeatSecondsPath")
        timeout = fields.integer("TimeoutSeconds", minimum=1)
        heartbeat = fields.integer("HeartbeatSeconds", minimum=1)
        fields.reference_path("HeartbeatSecondsPath")
        if timeout is not None and heartbeat is not None and heartbeat >= timeout:
            raise fields.fail("HeartbeatSeconds must be smaller than TimeoutSeconds")
        if fields.has("Credentials") and not isinstance(fields.raw["Credentials"], dict):
            raise fields.fail("'Credentials' must be a JSON object")
        return TaskState(
            **common,
            **_work(fields),
            resource=resource,
            parameters=fields.template("Parameters"),
            timeout_seconds=timeout,
            timeout_seconds_path=fields.reference_path("TimeoutSecondsPath"),
        )

    def map(self, fields: _Fields, common: dict[str, Any]) -> MapState:
        fields.exclusive("ItemProcessor", "Iterator")
        fields.exclusive("ItemSelector", "Parameters")
        fields.exclusive("MaxConcurrency", "MaxConcurrencyPath")
        fields.exclusive("ToleratedFailureCount", "ToleratedFailureCountPath")
        fields.exclusive("ToleratedFailurePercentage", "ToleratedFailurePercentagePath")
        key = "ItemProcessor" if fields.has("ItemProcessor") else "Iterator"
        if not fields.has(key):
            raise fields.fail("a Map state needs an 'ItemProcessor' (or the older 'Iterator')")
        processor = self.machine(fields.raw[key], f"{fields.where} {key}", processor=key == "ItemProcessor")
        percentage: float | JsonPath | None = fields.reference_path("ToleratedFailurePercentagePath")
        if fields.has("ToleratedFailurePercentage"):
            value = fields.raw["ToleratedFailurePercentage"]
            if not is_number(value) or not 0 <= value <= 100:
                raise fields.fail(
                    f"'ToleratedFailurePercentage' must be a number from 0 to 100, got {value!r}"
                )
            percentage = float(value)
        if fields.has("Label"):
            fields.string("Label")
        concurrency: int | JsonPath | None = fields.integer("MaxConcurrency", minimum=0)
        if concurrency is None:
            concurrency = fields.reference_path("MaxConcurrencyPath") or 0
        count: int | JsonPath | None = fields.integer("ToleratedFailureCount", minimum=0)
        if count is None:
            count = fields.reference_path("ToleratedFailureCountPath")
        return MapState(
            **common,
            **_work(fields),
            processor=processor,
            items_path=fields.reference_path("ItemsPath") or _ROOT,
            item_selector=fields.template("ItemSelector") or fields.template("Parameters"),
            max_concurrency=concurrency,
            tolerated_failure_count=count,
            tolerated_failure_percentage=percentage,
        )


def _transition(fields: _Fields) -> tuple[str | None, bool]:
    next_state = fields.string("Next")
    end = fields.raw.get("End", False)
    if not isinstance(end, bool):
        raise fields.fail("'End' must be true or false")
    if end and next_state is not None:
        raise fields.fail("'Next' and '\"End\": true' cannot be used together")
    if not end and next_state is None:
        raise fields.fail("must have a 'Next' or '\"End\": true'")
    return next_state, end


def _work(fields: _Fields) -> dict[str, Any]:
    retriers = _array(fields, "Retry")
    catchers = _array(fields, "Catch")
    return {
        "result_selector": fields.template("ResultSelector"),
        "result_path": fields.result_path(),
        "retry": tuple(
            _retrier(fields, raw, i, last=i == len(retriers) - 1) for i, raw in enumerate(retriers)
        ),
        "catch": tuple(
            _catcher(fields, raw, i, last=i == len(catchers) - 1) for i, raw in enumerate(catchers)
        ),
    }


def _array(fields: _Fields, key: str) -> list[Any]:
    value = fields.raw.get(key, [])
    if not isinstance(value, list):
        raise fields.fail(f"{key!r} must be an array")
    return value


def _error_equals(fields: _Fields, *, last: bool) -> tuple[str, ...]:
    names = fields.raw.get("ErrorEquals")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise fields.fail("'ErrorEquals' must be a non-empty array of error names")
    if ALL in names and (len(names) > 1 or not last):
        raise fields.fail(f"{ALL} must appear alone, in the last entry of the array")
    return tuple(names)


def _retrier(owner: _Fields, raw: Any, position: int, *, last: bool) -> Retrier:
    fields = _Fields(f"{owner.where} Retry[{position}]", raw)
    fields.allow_only(
        {
            "ErrorEquals",
            "IntervalSeconds",
            "MaxAttempts",
            "BackoffRate",
            "MaxDelaySeconds",
            "JitterStrategy",
            "Comment",
        },
        "a retrier",
    )
    backoff = fields.raw.get("BackoffRate", 2.0)
    if not is_number(backoff) or backoff < 1.0:
        raise fields.fail(f"'BackoffRate' must be a number of at least 1.0, got {backoff!r}")
    jitter = fields.raw.get("JitterStrategy", "NONE")
    if jitter not in ("FULL", "NONE"):
        raise fields.fail(f"'JitterStrategy' must be FULL or NONE, got {jitter!r}")
    interval = fields.integer("IntervalSeconds", minimum=1)
    attempts = fields.integer("MaxAttempts", minimum=0)
    return Retrier(
        error_equals=_error_equals(fields, last=last),
        interval_seconds=1 if interval is None else interval,
        max_attempts=3 if attempts is None else attempts,
        backoff_rate=float(backoff),
        max_delay_seconds=fields.integer("MaxDelaySeconds", minimum=1),
        full_jitter=jitter == "FULL",
    )


def _catcher(owner: _Fields, raw: Any, position: int, *, last: bool) -> Catcher:
    fields = _Fields(f"{owner.where} Catch[{position}]", raw)
    fields.allow_only({"ErrorEquals", "Next", "ResultPath", "Comment"}, "a catcher")
    return Catcher(
        error_equals=_error_equals(fields, last=last),
        next=fields.required_string("Next"),
        result_path=fields.result_path(),
    )


def _choice(fields: _Fields, common: dict[str, Any]) -> ChoiceState:
    rules = fields.raw.get("Choices")
    if not isinstance(rules, list) or not rules:
        raise fields.fail("'Choices' must be a non-empty array")
    choices: list[tuple[ChoiceRule, str]] = []
    for position, raw in enumerate(rules):
        try:
            rule, next_state = compile_rule(raw, top_level=True)
        except RuleError as exc:
            raise fields.fail(f"Choices[{position}]: {exc}") from None
        assert next_state is not None
        choices.append((rule, next_state))
    return ChoiceState(**common, choices=tuple(choices), default=fields.string("Default"))


def _wait(fields: _Fields, common: dict[str, Any]) -> WaitState:
    given = [key for key in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath") if fields.has(key)]
    if len(given) != 1:
        raise fields.fail(
            "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp or TimestampPath"
        )
    timestamp = None
    if fields.has("Timestamp"):
        timestamp = parse_timestamp(fields.raw["Timestamp"])
        if timestamp is None:
            raise fields.fail(f"'Timestamp' is not an RFC 3339 timestamp: {fields.raw['Timestamp']!r}")
    return WaitState(
        **common,
        seconds=fields.integer("Seconds", minimum=0),
        seconds_path=fields.reference_path("SecondsPath"),
        timestamp=timestamp,
        timestamp_path=fields.reference_path("TimestampPath"),
    )


def _fail(fields: _Fields, common: dict[str, Any]) -> FailState:
    fields.exclusive("Error", "ErrorPath")
    fields.exclusive("Cause", "CausePath")
    return FailState(
        **common,
        error=_dynamic_string(fields, "Error"),
        cause=_dynamic_string(fields, "Cause"),
    )


def _dynamic_string(fields: _Fields, key: str) -> str | JsonPath | IntrinsicCall | None:
    """Error/Cause as a literal, or ErrorPath/CausePath as a reference path or an intrinsic function."""
    if fields.has(key):
        return fields.string(key)
    path_key = f"{key}Path"
    value = fields.raw.get(path_key)
    if value is None:
        return None
    if isinstance(value, str) and looks_like_intrinsic(value):
        try:
            return parse_intrinsic(value)
        except IntrinsicSyntaxError as exc:
            raise fields.fail(f"{path_key!r}: {exc}") from None
    return fields.reference_path(path_key)


def _processor_config(fields: _Fields) -> None:
    fields.allow_only({"Mode", "ExecutionType"}, "a ProcessorConfig")
    if fields.raw.get("Mode", "INLINE") not in ("INLINE", "DISTRIBUTED"):
        raise fields.fail("'Mode' must be INLINE or DISTRIBUTED")
    if fields.raw.get("ExecutionType", "STANDARD") not in ("STANDARD", "EXPRESS"):
        raise fields.fail("'ExecutionType' must be STANDARD or EXPRESS")


def _targets(state: State) -> list[tuple[str, str]]:
    """(field, state name) for every transition a state can take."""
    found = [("Next", state.next)] if state.next is not None else []
    if isinstance(state, ChoiceState):
        found += [(f"Choices[{i}].Next", target) for i, (_, target) in enumerate(state.choices)]
        if state.default is not None:
            found.append(("Default", state.default))
    if isinstance(state, WorkState):
        found += [(f"Catch[{i}].Next", catcher.next) for i, catcher in enumerate(state.catch)]
    return found


def _check_transitions(states: Mapping[str, State], start_at: str, where: str) -> None:
    for name, state in states.items():
        for key, target in _targets(state):
            if target not in states:
                raise InvalidDefinition(f"State {name!r}: {key} {target!r} names no state in {where}")
    reached = {start_at}
    frontier = [start_at]
    while frontier:
        for _, target in _targets(states[frontier.pop()]):
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    unreachable = [name for name in states if name not in reached]
    if unreachable:
        raise InvalidDefinition(f"State {unreachable[0]!r} can never be reached from StartAt in {where}")
