"""Choice Rules (JSONPath flavour): data-test expressions and their And / Or / Not combinations.

Comparisons of values of the wrong type are simply false, as the spec says; a Variable (or *Path operand)
that matches nothing is a States.Runtime error, except under IsPresent, which exists to ask exactly that.
"""

from __future__ import annotations

import operator
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reelstep.asl.errors import RUNTIME, StatesError
from reelstep.asl.paths import JsonPath, PathNotFound, PathSyntaxError, parse_path
from reelstep.asl.values import is_number, parse_timestamp


class RuleError(ValueError):
    """A Choice Rule is malformed."""


def _as_string(value: Any) -> Any:
    return value if isinstance(value, str) else None


def _as_number(value: Any) -> Any:
    return value if is_number(value) else None


def _as_boolean(value: Any) -> Any:
    return value if isinstance(value, bool) else None


_KINDS: dict[str, Callable[[Any], Any]] = {
    "String": _as_string,
    "Numeric": _as_number,
    "Boolean": _as_boolean,
    "Timestamp": parse_timestamp,
}
_RELATIONS: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": operator.eq,
    "LessThan": operator.lt,
    "GreaterThan": operator.gt,
    "LessThanEquals": operator.le,
    "GreaterThanEquals": operator.ge,
}
_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "IsNull": lambda value: value is None,
    "IsNumeric": is_number,
    "IsString": lambda value: isinstance(value, str),
    "IsBoolean": lambda value: isinstance(value, bool),
    "IsTimestamp": lambda value: parse_timestamp(value) is not None,
}
_COMPARISON_OPERATORS = {
    f"{kind}{relation}{suffix}"
    for kind in _KINDS
    for relation in _RELATIONS
    for suffix in ("", "Path")
    if kind != "Boolean" or relation == "Equals"
}
_OPERATORS = frozenset({*_COMPARISON_OPERATORS, "StringMatches", "IsPresent", *_TYPE_TESTS})


class ChoiceRule(ABC):
    """Anything that answers true or false for a state's effective input."""

    @abstractmethod
    def matches(self, data: Any, context: Any) -> bool: ...


@dataclass(frozen=True)
class _And(ChoiceRule):
    rules: tuple[ChoiceRule, ...]

    def matches(self, data: Any, context: Any) -> bool:
        return all(rule.matches(data, context) for rule in self.rules)


@dataclass(frozen=True)
class _Or(ChoiceRule):
    rules: tuple[ChoiceRule, ...]

    def matches(self, data: Any, context: Any) -> bool:
        return any(rule.matches(data, context) for rule in self.rules)


@dataclass(frozen=True)
class _Not(ChoiceRule):
    rule: ChoiceRule

    def matches(self, data: Any, context: Any) -> bool:
        return not self.rule.matches(data, context)


@dataclass(frozen=True)
class _Comparison(ChoiceRule):
    variable: JsonPath
    kind: Callable[[Any], Any]
    relation: Callable[[Any, Any], bool]
    operand: Any  # a literal, or a JsonPath for the *Path operators

    def matches(self, data: Any, context: Any) -> bool:
        left = self.kind(_read(self.variable, data, context))
        operand = _read(self.operand, data, context) if isinstance(self.operand, JsonPath) else self.operand
        right = self.kind(operand)
        return left is not None and right is not None and self.relation(left, right)


@dataclass(frozen=True)
class _Matches(ChoiceRule):
    variable: JsonPath
    pattern: re.Pattern[str]

    def matches(self, data: Any, context: Any) -> bool:
        value = _read(self.variable, data, context)
        return isinstance(value, str) and self.pattern.fullmatch(value) is not None


@dataclass(frozen=True)
class _TypeTest(ChoiceRule):
    variable: JsonPath
    test: Callable[[Any], bool]
    expected: bool

    def matches(self, data: Any, context: Any) -> bool:
        return self.test(_read(self.variable, data, context)) == self.expected


@dataclass(frozen=True)
class _Presence(ChoiceRule):
    variable: JsonPath
    expected: bool

    def matches(self, data: Any, context: Any) -> bool:
        return self.variable.exists(data, context) == self.expected


def _read(path: JsonPath, data: Any, context: Any) -> Any:
    try:
        return path.evaluate(data, context)
    except PathNotFound:
        raise StatesError(
            RUNTIME, f"Invalid path '{path}': The choice state's condition path references an invalid value."
        ) from None


def compile_rule(raw: Any, *, top_level: bool) -> tuple[ChoiceRule, str | None]:
    """Compile a Choice Rule; returns it with its Next (top-level rules only). Raises RuleError."""
    if not isinstance(raw, dict):
        raise RuleError("a choice rule must be a JSON object")
    fields = set(raw) - {"Comment"}
    next_state = raw.get("Next")
    if top_level:
        if not isinstance(next_state, str):
            raise RuleError("a top-level choice rule must have a string 'Next'")
        fields.discard("Next")
    elif "Next" in raw:
        raise RuleError("a nested choice rule must not have 'Next'")
    return _compile_expression(raw, fields), next_state


def _compile_expression(raw: dict[str, Any], fields: set[str]) -> ChoiceRule:
    boolean = fields & {"And", "Or", "Not"}
    if boolean:
        if fields != boolean or len(boolean) != 1:
            raise RuleError(f"a boolean rule must hold only one of And, Or or Not, got {sorted(fields)}")
        (name,) = boolean
        if name == "Not":
            return _Not(compile_rule(raw["Not"], top_level=False)[0])
        children = raw[name]
        if not isinstance(children, list) or not children:
            raise RuleError(f"'{name}' must be a non-empty array of choice rules")
        rules = tuple(compile_rule(child, top_level=False)[0] for child in children)
        return _And(rules) if name == "And" else _Or(rules)
    operators = fields - {"Variable"}
    if "Variable" not in fields or len(operators) != 1:
        raise RuleError(
            f"a data-test rule needs a 'Variable' and exactly one comparison operator, got {sorted(fields)}"
        )
    (name,) = operators
    if name not in _OPERATORS:
        raise RuleError(f"unknown comparison operator {name!r}")
    return _compile_test(_path(raw["Variable"], "Variable"), name, raw[name])


def _compile_test(variable: JsonPath, name: str, value: Any) -> ChoiceRule:
    if name in _TYPE_TESTS or name == "IsPresent":
        if not isinstance(value, bool):
            raise RuleError(f"'{name}' takes true or false")
        return (
            _Presence(variable, value)
            if name == "IsPresent"
            else _TypeTest(variable, _TYPE_TESTS[name], value)
        )
    if name == "StringMatches":
        if not isinstance(value, str):
            raise RuleError("'StringMatches' takes a string pattern")
        return _Matches(variable, _wildcard_pattern(value))
    kind_name = next(kind for kind in _KINDS if name.startswith(kind))
    relation_name = name[len(kind_name) :].removesuffix("Path")
    kind = _KINDS[kind_name]
    if name.endswith("Path"):
        operand: Any = _path(value, name)
    elif kind(value) is None:
        raise RuleError(f"'{name}' takes a {kind_name.lower()} value, got {value!r}")
    else:
        operand = value
    return _Comparison(variable, kind, _RELATIONS[relation_name], operand)


def _path(value: Any, field: str) -> JsonPath:
    try:
        return parse_path(value)
    except PathSyntaxError as exc:
        raise RuleError(f"'{field}': {exc}") from None


def _wildcard_pattern(pattern: str) -> re.Pattern[str]:
    """StringMatches: '*' matches any run of characters; '\\*' and '\\\\' stand for '*' and '\\'."""
    pieces: list[str] = []
    position = 0
    while position < len(pattern):
        char = pattern[position]
        if char == "\\":
            following = pattern[position + 1 : position + 2]
            if following not in ("*", "\\"):
                raise RuleError(f"open escape in StringMatches pattern {pattern!r}")
            pieces.append(re.escape(following))
            position += 2
        else:
            pieces.append(".*" if char == "*" else re.escape(char))
            position += 1
    return re.compile("".join(pieces), re.DOTALL)
