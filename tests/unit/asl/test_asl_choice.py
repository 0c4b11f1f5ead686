"""Choice Rules: every comparison operator, type tests, boolean nesting and the spec's examples."""

from __future__ import annotations

from typing import Any

import pytest

from reelstep.asl import StatesError
from reelstep.asl.choice import RuleError, compile_rule


def matches(rule: dict[str, Any], data: Any, context: Any = None) -> bool:
    compiled, _ = compile_rule(rule, top_level=False)
    return compiled.matches(data, context)


DATA = {
    "type": "Private",
    "value": 22,
    "rating": 53,
    "auditThreshold": 50,
    "name": "zebra.log",
    "when": "2016-03-14T01:59:00Z",
    "later": "2016-03-14T02:59:00+01:00",
    "flag": True,
    "nothing": None,
    "list": [1, 2],
}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"StringEquals": "Private"}, True),
        ({"StringLessThan": "Q"}, True),
        ({"StringGreaterThan": "Q"}, False),
        ({"StringLessThanEquals": "Private"}, True),
        ({"StringGreaterThanEquals": "Privatf"}, False),
    ],
)
def test_string_comparisons(rule: dict[str, Any], expected: bool) -> None:
    # Given $.type is "Private", When compared character by character, Then code point order decides
    assert matches({"Variable": "$.type", **rule}, DATA) is expected


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"NumericEquals": 22}, True),
        ({"NumericEquals": 22.0}, True),
        ({"NumericLessThan": 30}, True),
        ({"NumericGreaterThan": 22}, False),
        ({"NumericLessThanEquals": 22}, True),
        ({"NumericGreaterThanEquals": 22.5}, False),
        ({"NumericEqualsPath": "$.value"}, True),
        ({"NumericLessThanPath": "$.auditThreshold"}, True),
    ],
)
def test_numeric_comparisons(rule: dict[str, Any], expected: bool) -> None:
    # Given $.value is 22, When compared numerically (literal or *Path operand), Then the result is arithmetic
    assert matches({"Variable": "$.value", **rule}, DATA) is expected


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"TimestampEquals": "2016-03-14T01:59:00Z"}, True),
        ({"TimestampEqualsPath": "$.later"}, True),
        ({"TimestampLessThan": "2016-03-14T02:00:00.5Z"}, True),
        ({"TimestampGreaterThan": "2016-03-14T01:58:59.999Z"}, True),
        ({"TimestampLessThanEquals": "2016-03-13T01:59:00Z"}, False),
        ({"TimestampGreaterThanEqualsPath": "$.when"}, True),
    ],
)
def test_timestamp_comparisons_compare_instants_across_offsets(rule: dict[str, Any], expected: bool) -> None:
    # Given $.when is "01:59:00Z" and $.later the same instant written "02:59:00+01:00"
    # When timestamps are compared, Then they compare as instants (with fractions), not as strings
    assert matches({"Variable": "$.when", **rule}, DATA) is expected


def test_boolean_comparisons() -> None:
    # Given $.flag is true, When compared with booleans (literal and path), Then equality holds only for true
    assert matches({"Variable": "$.flag", "BooleanEquals": True}, DATA)
    assert not matches({"Variable": "$.flag", "BooleanEquals": False}, DATA)
    assert matches({"Variable": "$.flag", "BooleanEqualsPath": "$.flag"}, DATA)


@pytest.mark.parametrize(
    "rule",
    [
        {"Variable": "$.value", "StringEquals": "22"},
        {"Variable": "$.type", "NumericEquals": 22},
        {"Variable": "$.value", "BooleanEquals": True},
        {"Variable": "$.flag", "NumericEquals": 1},
        {"Variable": "$.type", "TimestampEquals": "2016-03-14T01:59:00Z"},
        {"Variable": "$.nothing", "StringLessThan": "a"},
        {"Variable": "$.value", "StringEqualsPath": "$.type"},
    ],
)
def test_comparing_values_of_the_wrong_type_is_false(rule: dict[str, Any]) -> None:
    # Given a comparison whose operands are not both of the operator's type, When evaluated, Then false
    assert not matches(rule, DATA)


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("foo*.log", "foo23.log", True),
        ("*.log", "zebra.log", True),
        ("foo*.*", "foobar.zebra", True),
        ("*.log", "zebra.logs", False),
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
        ("a\\\\b", "a\\b", True),
        ("a.c", "abc", False),
        ("*", "", True),
    ],
)
def test_string_matches_with_the_spec_examples_and_escapes(pattern: str, value: str, expected: bool) -> None:
    # Given a StringMatches pattern ("*" is the only wildcard; "\\*" and "\\\\" are literal)
    # When matched against a value, Then the whole value must match
    assert matches({"Variable": "$.s", "StringMatches": pattern}, {"s": value}) is expected


@pytest.mark.parametrize(
    ("operator", "variable", "expected"),
    [
        ("IsNull", "$.nothing", True),
        ("IsNull", "$.value", False),
        ("IsPresent", "$.nothing", True),
        ("IsPresent", "$.absent", False),
        ("IsNumeric", "$.value", True),
        ("IsNumeric", "$.flag", False),
        ("IsString", "$.type", True),
        ("IsString", "$.list", False),
        ("IsBoolean", "$.flag", True),
        ("IsBoolean", "$.nothing", False),
        ("IsTimestamp", "$.when", True),
        ("IsTimestamp", "$.type", False),
    ],
)
def test_type_tests(operator: str, variable: str, expected: bool) -> None:
    # Given each type test set to true (and to false), When evaluated, Then it reports the value's JSON type
    assert matches({"Variable": variable, operator: True}, DATA) is expected
    assert matches({"Variable": variable, operator: False}, DATA) is (not expected)


def test_is_timestamp_needs_the_uppercase_t_and_a_zone() -> None:
    # Given timestamps breaking the spec's RFC 3339 profile, When tested, Then they are not timestamps
    for text in (
        "2016-03-14t01:59:00Z",
        "2016-03-14T01:59:00",
        "2016-03-14 01:59:00Z",
        "2016-13-14T01:59:00Z",
    ):
        assert not matches({"Variable": "$.t", "IsTimestamp": True}, {"t": text}), text


def test_the_dispatch_example_of_the_spec() -> None:
    # Given the spec's DispatchEvent rules (Not, And with presence and type guards, a *Path comparison)
    rules = [
        {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
        {
            "And": [
                {"Variable": "$.value", "IsPresent": True},
                {"Variable": "$.value", "IsNumeric": True},
                {"Variable": "$.value", "NumericGreaterThanEquals": 20},
                {"Variable": "$.value", "NumericLessThan": 30},
            ],
            "Next": "ValueInTwenties",
        },
        {"Variable": "$.rating", "NumericGreaterThanPath": "$.auditThreshold", "Next": "StartAudit"},
    ]
    compiled = [compile_rule(rule, top_level=True) for rule in rules]

    def choose(data: dict[str, Any]) -> str | None:
        return next((target for rule, target in compiled if rule.matches(data, None)), None)

    # When the spec's input {"type": "Private", "value": 22} is tested, Then the rule for the twenties wins
    assert choose({"type": "Private", "value": 22}) == "ValueInTwenties"
    # And a public event goes to Public, and a private one with a high rating is audited
    assert choose({"type": "Public", "value": 22}) == "Public"
    assert choose({"type": "Private", "rating": 53, "auditThreshold": 50}) == "StartAudit"
    assert choose({"type": "Private", "value": 40, "rating": 1, "auditThreshold": 50}) is None


def test_or_stops_at_the_first_true_rule() -> None:
    # Given an Or whose second rule would fail on a missing variable, When the first is true
    rule = {"Or": [{"Variable": "$.value", "IsNumeric": True}, {"Variable": "$.absent", "IsNull": True}]}
    # Then the second is never evaluated and no error is raised
    assert matches(rule, DATA)


def test_a_variable_that_matches_nothing_is_a_runtime_error() -> None:
    # Given a comparison on an absent field, When evaluated, Then States.Runtime (only IsPresent may ask)
    with pytest.raises(StatesError) as failure:
        matches({"Variable": "$.absent", "StringEquals": "x"}, DATA)
    assert failure.value.error == "States.Runtime"


def test_variables_may_read_the_context_object() -> None:
    # Given a "$$" variable, When evaluated, Then it reads the context object
    assert matches({"Variable": "$$.State.RetryCount", "NumericEquals": 0}, {}, {"State": {"RetryCount": 0}})


@pytest.mark.parametrize(
    ("rule", "top_level", "message"),
    [
        ({"Variable": "$.a", "StringEquals": "x"}, True, "Next"),
        ({"Variable": "$.a", "StringEquals": "x", "Next": "S"}, False, "nested"),
        ({"Variable": "$.a", "StringEquals": "x", "NumericEquals": 1}, False, "exactly one"),
        ({"Variable": "$.a", "StringEqual": "x"}, False, "unknown comparison operator"),
        ({"Variable": "$.a", "NumericEquals": "1"}, False, "numeric value"),
        ({"Variable": "$.a", "TimestampEquals": "yesterday"}, False, "timestamp value"),
        ({"Variable": "$.a", "IsNull": "yes"}, False, "true or false"),
        ({"Variable": "$.a", "StringMatches": "open \\ escape"}, False, "open escape"),
        ({"Variable": "a", "StringEquals": "x"}, False, "Variable"),
        ({"And": []}, False, "non-empty"),
        ({"And": [{"Variable": "$.a", "IsNull": True}], "Or": []}, False, "only one"),
        ({"Not": {"Variable": "$.a", "IsNull": True, "Next": "S"}}, False, "nested"),
    ],
)
def test_malformed_rules_are_rejected(rule: dict[str, Any], top_level: bool, message: str) -> None:
    # Given a rule that breaks the spec's structure, When compiled, Then RuleError says what is wrong
    with pytest.raises(RuleError, match=message):
        compile_rule(rule, top_level=top_level)
