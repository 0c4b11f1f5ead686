"""Intrinsic functions, with the examples of the spec's Appendix B and the AWS developer guide."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest

from reelstep.asl import StatesError
from reelstep.asl.intrinsics import IntrinsicSyntaxError, parse_intrinsic


def call(text: str, data: Any = None, context: Any = None) -> Any:
    return parse_intrinsic(text).evaluate(data, context)


def test_format_fills_placeholders_from_literals_and_paths() -> None:
    # Given the spec's States.Format example, When evaluated on its input, Then the sentence is built
    data = {"name": "Foo", "zebra": "stripe"}
    assert call("States.Format('Your name is {}, we are in the year {}', $.name, 2020)", data) == (
        "Your name is Foo, we are in the year 2020"
    )


def test_format_honours_the_escaped_apostrophe_of_the_spec_example() -> None:
    # Given the spec's playlist example, whose JSON text "\\'" reaches the parser as \'
    text = "States.Format('Welcome to {} {}\\'s playlist.', $.firstName, $.lastName)"
    # When evaluated, Then the escaped apostrophe is a plain apostrophe
    assert call(text, {"firstName": "John", "lastName": "Doe"}) == "Welcome to John Doe's playlist."


def test_format_keeps_escaped_braces_literal_and_renders_json_scalars() -> None:
    # Given escaped braces and non-string arguments, When formatted
    result = call("States.Format('\\{{}\\} {} {} {}', 1.5, true, null, $.n)", {"n": 7})
    # Then \{ and \} are literal braces and scalars take their JSON spelling
    assert result == "{1.5} true null 7"


def test_format_takes_its_template_from_a_path() -> None:
    # Given the developer guide's example with the template in the input, When formatted, Then it is filled
    data = {"name": "Arnav", "template": "Hello, my name is {}."}
    assert call("States.Format($.template, $.name)", data) == "Hello, my name is Arnav."


@pytest.mark.parametrize(
    "text",
    [
        "States.Format('{} and {}', 'one')",
        "States.Format('{}', $.obj)",
        "States.StringToJson('not json')",
        "States.ArrayPartition($.a, 0)",
        "States.ArrayRange(1, 2000, 1)",
        "States.ArrayRange(1, 9, 0)",
        "States.ArrayGetItem($.a, 9)",
        "States.ArrayLength('abc')",
        "States.MathAdd(1.5, 1)",
        "States.Base64Decode('***')",
        "States.Hash('x', 'SHA-999')",
        "States.JsonMerge($.a, $.obj, false)",
    ],
)
def test_bad_arguments_raise_an_intrinsic_failure(text: str) -> None:
    # Given a call whose arguments break the function's input validation
    # When it is evaluated, Then it fails with States.IntrinsicFailure
    with pytest.raises(StatesError) as failure:
        call(text, {"a": [1, 2, 3], "obj": {"k": 1}})
    assert failure.value.error == "States.IntrinsicFailure"


def test_a_path_argument_that_matches_nothing_is_a_runtime_error() -> None:
    # Given a path argument absent from the input, When evaluated, Then States.Runtime (a path failure)
    with pytest.raises(StatesError) as failure:
        call("States.Array($.missing)", {})
    assert failure.value.error == "States.Runtime"


def test_string_to_json_and_json_to_string_from_the_spec() -> None:
    # Given the spec's examples, When the JSON conversions run, Then they parse and serialise compactly
    assert call("States.StringToJson($.someString)", {"someString": '{"number": 20}'}) == {"number": 20}
    data = {"someJson": {"name": "Foo", "year": 2020}}
    assert call("States.JsonToString($.someJson)", data) == '{"name":"Foo","year":2020}'


def test_array_from_the_spec() -> None:
    # Given the spec's States.Array example, When evaluated, Then the arguments are gathered in order
    data = {"someJson": {"random": "abcdefg"}, "zebra": "stripe"}
    assert call("States.Array('Foo', 2020, $.someJson, null)", data) == [
        "Foo",
        2020,
        {"random": "abcdefg"},
        None,
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("States.ArrayPartition($.inputArray, 4)", [[1, 2, 3, 4], [5, 6, 7, 8], [9]]),
        ("States.ArrayContains($.inputArray, $.lookingFor)", True),
        ("States.ArrayContains($.inputArray, 'five')", False),
        ("States.ArrayRange(1, 9, 2)", [1, 3, 5, 7, 9]),
        ("States.ArrayRange(5, 1, -2)", [5, 3, 1]),
        ("States.ArrayGetItem($.inputArray, $.index)", 6),
        ("States.ArrayLength($.inputArray)", 9),
        ("States.ArrayUnique($.duplicates)", [1, 2, 3, 4]),
        ("States.MathAdd($.value1, $.step)", 110),
    ],
)
def test_array_and_math_functions_with_the_spec_examples(text: str, expected: Any) -> None:
    # Given the spec's Appendix B example inputs, When each function runs, Then it gives the spec's value
    data = {
        "inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9],
        "lookingFor": 5,
        "index": 5,
        "duplicates": [1, 2, 3, 3, 3, 3, 3, 3, 4],
        "value1": 111,
        "step": -1,
    }
    assert call(text, data) == expected


def test_array_contains_does_not_confuse_true_with_one() -> None:
    # Given an array holding 1, When asked whether it contains true, Then no: JSON booleans are not numbers
    assert call("States.ArrayContains($.a, true)", {"a": [1]}) is False


def test_base64_round_trip_from_the_spec() -> None:
    # Given the spec's data string, When encoded then decoded, Then the spec's encoding and the text return
    assert call("States.Base64Encode($.input)", {"input": "Data to encode"}) == "RGF0YSB0byBlbmNvZGU="
    assert call("States.Base64Decode($.base64)", {"base64": "RGF0YSB0byBlbmNvZGU="}) == "Data to encode"


@pytest.mark.parametrize(
    ("algorithm", "name"),
    [("MD5", "md5"), ("SHA-1", "sha1"), ("SHA-256", "sha256"), ("SHA-384", "sha384"), ("SHA-512", "sha512")],
)
def test_hash_supports_the_five_algorithms(algorithm: str, name: str) -> None:
    # Given the spec's data "input data", When hashed with each algorithm, Then the hex digest is returned
    # (the spec prints the SHA-1 digest with one digit missing; hashlib's value is the real one)
    result = call("States.Hash($.Data, $.Algorithm)", {"Data": "input data", "Algorithm": algorithm})
    assert result == hashlib.new(name, b"input data").hexdigest()


def test_string_split_from_the_spec_and_with_several_delimiters() -> None:
    # Given the spec's comma-separated string, When split, Then the pieces are returned
    assert call(
        "States.StringSplit($.inputString, $.splitter)", {"inputString": "1,2,3,4,5", "splitter": ","}
    ) == [
        "1",
        "2",
        "3",
        "4",
        "5",
    ]
    # And each character of the delimiter splits, as the developer guide's ".+,=" example shows
    assert call("States.StringSplit('This.is+a,test=string', '.+,=')") == [
        "This",
        "is",
        "a",
        "test",
        "string",
    ]


def test_json_merge_shallow_from_the_spec_and_deep() -> None:
    # Given the spec's two objects sharing "a", When merged shallowly, Then the second "a" wins whole
    data = {"json1": {"a": {"a1": 1, "a2": 2}, "b": 2}, "json2": {"a": {"a3": 1, "a4": 2}, "c": 3}}
    assert call("States.JsonMerge($.json1, $.json2, false)", data) == {
        "a": {"a3": 1, "a4": 2},
        "b": 2,
        "c": 3,
    }
    # And a deep merge combines the nested objects
    assert call("States.JsonMerge($.json1, $.json2, true)", data)["a"] == {"a1": 1, "a2": 2, "a3": 1, "a4": 2}


def test_uuid_and_math_random() -> None:
    # Given no arguments, When States.UUID runs, Then a version 4 UUID string comes back
    assert uuid.UUID(call("States.UUID()")).version == 4
    # And MathRandom stays within its bounds and repeats itself for one seed
    assert 1 <= call("States.MathRandom(1, 999)") <= 999
    assert call("States.MathRandom(1, 999, 7)") == call("States.MathRandom(1, 999, 7)")


def test_calls_nest() -> None:
    # Given the developer guide's nested ARN example, When evaluated, Then inner calls feed outer ones
    text = (
        "States.Format('{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem("
        "States.StringSplit($.Arn, '/'), 2), '.'), 0), States.ArrayLength(States.Array(1, 2)))"
    )
    assert call(text, {"Arn": "arn:aws:imagebuilder:r:1:image-recipe/x/1.0.2"}) == "1.2"


def test_context_paths_are_arguments_too() -> None:
    # Given a context object, When a "$$" path is an argument, Then its value comes from the context
    assert call("States.Format('run {}', $$.Execution.Name)", {}, {"Execution": {"Name": "e-1"}}) == "run e-1"


@pytest.mark.parametrize(
    "text",
    [
        "States.Nope(1)",
        "States.Format('unclosed)",
        "States.Format('open escape \\n')",
        "States.UUID(1)",
        "States.ArrayRange(1, 2)",
        "States.Array(1,)",
        "States.Array(1) trailing",
        "States.Array(@)",
        "States.Array($.a[)",
    ],
)
def test_malformed_calls_are_rejected_when_parsed(text: str) -> None:
    # Given malformed call text, When parsed, Then IntrinsicSyntaxError explains it (before anything runs)
    with pytest.raises(IntrinsicSyntaxError):
        parse_intrinsic(text)
