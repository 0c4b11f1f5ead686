"""JSONPath and Reference Paths as the States Language uses them, with the spec's own examples."""

from __future__ import annotations

from typing import Any

import pytest

from reelstep.asl.paths import PathNotFound, PathSyntaxError, parse_path, parse_reference_path

SPEC_INPUT = {"foo": 123, "bar": ["a", "b", "c"], "car": {"cdr": True}}
STORE = {
    "store": {
        "book": [
            {"title": "Sayings", "price": 8.95, "category": "reference"},
            {"title": "Sword", "price": 12.99, "category": "fiction", "isbn": "0-553"},
            {"title": "Moby", "price": 8.99, "category": "fiction", "isbn": "0-395"},
        ],
        "bicycle": {"color": "red", "price": 19.95},
    },
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [("$.foo", 123), ("$.bar", ["a", "b", "c"]), ("$.car.cdr", True), ("$", SPEC_INPUT)],
)
def test_reference_paths_from_the_spec(path: str, expected: Any) -> None:
    # Given the spec's reference-path input, When each spec path is read, Then it yields the spec's value
    assert parse_reference_path(path).evaluate(SPEC_INPUT) == expected


@pytest.mark.parametrize(
    ("path", "data", "expected"),
    [
        ("$.store\\.book", {"store.book": 1}, 1),
        ("$.\\stor\\e.boo\\k", {"store": {"book": 2}}, 2),
        ("$.foo.\\.bar", {"foo": {".bar": 3}}, 3),
        ("$.foo\\@bar.baz\\[\\[.\\?pretty", {"foo@bar": {"baz[[": {"?pretty": 4}}}, 4),
        ("$.&Ж中", {"&Ж中": 5}, 5),
        ("$.ledgers.branch[0].pending.count", {"ledgers": {"branch": [{"pending": {"count": 6}}]}}, 6),
        ("$.ledgers[0][22][315].foo", {"ledgers": [[0] * 22 + [[0] * 315 + [{"foo": 7}]]]}, 7),
        ("$['store']['book']", {"store": {"book": 8}}, 8),
        ("$['store'][0]['book']", {"store": [{"book": 9}]}, 9),
    ],
)
def test_acceptable_reference_path_syntax_from_the_spec(path: str, data: Any, expected: Any) -> None:
    # Given each reference path the spec lists as acceptable, When applied, Then it reaches the escaped field
    assert parse_reference_path(path).evaluate(data) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.store.book[*].title", ["Sayings", "Sword", "Moby"]),
        ("$..price", [8.95, 12.99, 8.99, 19.95]),
        ("$.store.book[0,2].title", ["Sayings", "Moby"]),
        ("$.store.book[-1:].title", ["Moby"]),
        ("$.store.book[:2].title", ["Sayings", "Sword"]),
        ("$.store.book[?(@.isbn)].title", ["Sword", "Moby"]),
        ("$.store.book[?(@.price < 10)].title", ["Sayings", "Moby"]),
        ("$.store.book[?(@.category == 'fiction' && @.price > 10)].title", ["Sword"]),
        ("$.store.book[?(@.category != 'fiction' || @.price >= 12.99)].title", ["Sayings", "Sword"]),
        ("$.store.*.color", ["red"]),
        ("$.store.book[*].missing", []),
    ],
)
def test_indefinite_paths_gather_every_match_into_a_list(path: str, expected: Any) -> None:
    # Given a store document, When an indefinite path (wildcard, slice, union, filter, descent) is read,
    # Then every match is returned in document order, and no match is an empty list, not an error
    assert parse_path(path).evaluate(STORE) == expected


def test_the_payload_template_slice_example_of_the_spec() -> None:
    # Given the spec's Parameters example input, When "$.vals[0]" and "$.vals[-3:]" are read
    data = {"flagged": 7, "vals": [0, 10, 20, 30, 40, 50]}
    # Then they give the first value and the last three, as the spec shows
    assert parse_path("$.vals[0]").evaluate(data) == 0
    assert parse_path("$.vals[-3:]").evaluate(data) == [30, 40, 50]


def test_a_double_dollar_path_reads_the_context_object() -> None:
    # Given a context object, When "$$.Map.Item.Value" is read, Then it comes from the context, not the input
    context = {"Map": {"Item": {"Index": 2, "Value": {"prod": "R31"}}}}
    assert parse_path("$$.Map.Item.Value").evaluate({"Map": "not this"}, context) == {"prod": "R31"}


@pytest.mark.parametrize("path", ["$.missing", "$.foo.deeper", "$.bar[3]", "$.car[0]"])
def test_a_definite_path_that_matches_nothing_raises(path: str) -> None:
    # Given a definite path absent from the data, When it is read, Then PathNotFound names what is missing
    with pytest.raises(PathNotFound):
        parse_path(path).evaluate(SPEC_INPUT)


@pytest.mark.parametrize(
    "text", ["foo", "", "$.", "$.a[", "$.a[x]", "$.a[1:2:3:4]", "$.a[?(@.b <)]", "$[0:1:0]"]
)
def test_malformed_paths_are_rejected(text: str) -> None:
    # Given malformed path text, When it is parsed, Then a PathSyntaxError is raised
    with pytest.raises(PathSyntaxError):
        parse_path(text)


@pytest.mark.parametrize("text", ["$.a[*]", "$.a[0,1]", "$.a[1:]", "$..a", "$.a[?(@.b)]"])
def test_reference_paths_must_name_a_single_node(text: str) -> None:
    # Given a path that can match many nodes, When parsed as a reference path, Then it is refused
    with pytest.raises(PathSyntaxError, match="reference path"):
        parse_reference_path(text)


def test_result_path_overwrites_an_existing_field_as_in_the_spec() -> None:
    # Given the spec's raw input and a result of 6, When placed at "$.master.detail"
    raw = {"master": {"detail": [1, 2, 3]}}
    output = parse_reference_path("$.master.detail").assign(raw, 6)
    # Then the field is overwritten, and the raw input itself is left untouched
    assert output == {"master": {"detail": 6}}
    assert raw == {"master": {"detail": [1, 2, 3]}}


def test_result_path_creates_the_missing_chain_of_fields_as_in_the_spec() -> None:
    # Given the spec's raw input, When 6 is placed at "$.master.result.sum"
    output = parse_reference_path("$.master.result.sum").assign({"master": {"detail": [1, 2, 3]}}, 6)
    # Then "result" and "sum" are created alongside "detail"
    assert output == {"master": {"detail": [1, 2, 3], "result": {"sum": 6}}}


def test_result_path_into_a_string_input_cannot_apply() -> None:
    # Given the spec's JSONPath runtime error example (input "foo", ResultPath "$.x")
    # When the result is placed, Then it fails
    with pytest.raises(PathNotFound):
        parse_reference_path("$.x").assign("foo", 1)


def test_result_path_cannot_write_into_the_context_object() -> None:
    # Given a "$$" path, When used where the context is not allowed (ResultPath), Then it is refused
    with pytest.raises(PathSyntaxError, match="context"):
        parse_reference_path("$$.Execution", allow_context=False)
