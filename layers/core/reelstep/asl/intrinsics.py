"""Intrinsic functions (Appendix B of the spec): parsed once when the definition loads, evaluated per state.

Arguments are quoted strings (with the spec's escapes for ' { } and backslash), numbers, booleans, null,
paths, or nested calls. A function that rejects its arguments raises States.IntrinsicFailure; a path
argument that matches nothing raises States.Runtime, as any other path failure does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reelstep.asl.errors import INTRINSIC_FAILURE, RUNTIME, StatesError
from reelstep.asl.paths import JsonPath, PathNotFound, PathSyntaxError, parse_path
from reelstep.asl.values import is_integer, json_equal, to_json

_NAME = re.compile(r"[A-Za-z0-9._]+(?=\s*\()")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_KEYWORD = re.compile(r"(null|true|false)\b")
_ESCAPABLE = "'{}\\"
_MAX_STRING = 10_000
_MAX_RANGE = 1000


class IntrinsicSyntaxError(ValueError):
    """The text is not a well-formed call of a known intrinsic function."""


@dataclass(frozen=True)
class _Literal:
    value: Any
    raw: str | None = None  # a string literal as written, escapes intact (States.Format needs them)


@dataclass(frozen=True)
class _PathArgument:
    path: JsonPath


@dataclass(frozen=True)
class IntrinsicCall:
    """A parsed call such as ``States.Format('{} items', $.count)``."""

    name: str
    arguments: tuple[_Literal | _PathArgument | IntrinsicCall, ...]
    text: str  # the call as written, quoted in failure causes

    def evaluate(self, data: Any, context: Any) -> Any:
        values = [_argument_value(argument, data, context) for argument in self.arguments]
        function, _, _ = _FUNCTIONS[self.name]
        try:
            return function(self.arguments, values)
        except (ValueError, TypeError, OverflowError) as exc:
            raise StatesError(INTRINSIC_FAILURE, f"{self.text}: {exc}") from None


def looks_like_intrinsic(text: str) -> bool:
    return _NAME.match(text) is not None


def parse_intrinsic(text: str) -> IntrinsicCall:
    """Parse a whole intrinsic call; raises IntrinsicSyntaxError naming what is wrong."""
    parser = _Parser(text)
    call = parser.call()
    parser.spaces()
    if parser.pos != len(text):
        raise parser.fail("unexpected text after the call")
    return call


def _argument_value(argument: _Literal | _PathArgument | IntrinsicCall, data: Any, context: Any) -> Any:
    if isinstance(argument, _Literal):
        return argument.value
    if isinstance(argument, _PathArgument):
        try:
            return argument.path.evaluate(data, context)
        except PathNotFound as exc:
            raise StatesError(RUNTIME, f"The JSONPath {argument.path} could not be found: {exc}") from None
    return argument.evaluate(data, context)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, why: str) -> IntrinsicSyntaxError:
        return IntrinsicSyntaxError(f"invalid intrinsic function {self.text!r} at position {self.pos}: {why}")

    def spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def call(self) -> IntrinsicCall:
        start = self.pos
        match = _NAME.match(self.text, self.pos)
        if match is None:
            raise self.fail("expected a function name followed by '('")
        name = match.group()
        if name not in _FUNCTIONS:
            raise self.fail(f"unknown function {name!r}")
        self.pos = match.end()
        self.spaces()
        self.pos += 1  # the "(" the name pattern looked ahead for
        arguments: list[_Literal | _PathArgument | IntrinsicCall] = []
        self.spaces()
        if self.text.startswith(")", self.pos):
            self.pos += 1
        else:
            while True:
                arguments.append(self.argument())
                self.spaces()
                if self.text.startswith(",", self.pos):
                    self.pos += 1
                elif self.text.startswith(")", self.pos):
                    self.pos += 1
                    break
                else:
                    raise self.fail("expected ',' or ')'")
        _, least, most = _FUNCTIONS[name]
        if len(arguments) < least or (most is not None and len(arguments) > most):
            expected = (
                f"at least {least}" if most is None else f"{least}" if least == most else f"{least} or {most}"
            )
            raise self.fail(f"{name} takes {expected} arguments, got {len(arguments)}")
        return IntrinsicCall(name, tuple(arguments), self.text[start : self.pos])

    def argument(self) -> _Literal | _PathArgument | IntrinsicCall:
        self.spaces()
        char = self.text[self.pos : self.pos + 1]
        if char == "'":
            return self.string()
        if char == "$":
            return self.path()
        if number := _NUMBER.match(self.text, self.pos):
            self.pos = number.end()
            text = number.group()
            return _Literal(int(text) if text.lstrip("-").isdigit() else float(text))
        if keyword := _KEYWORD.match(self.text, self.pos):
            self.pos = keyword.end()
            return _Literal({"null": None, "true": True, "false": False}[keyword.group()])
        if _NAME.match(self.text, self.pos):
            return self.call()
        raise self.fail("expected a string, number, null, path or function call")

    def string(self) -> _Literal:
        self.pos += 1
        start = self.pos
        chars: list[str] = []
        while self.pos < len(self.text) and self.text[self.pos] != "'":
            char = self.text[self.pos]
            if char == "\\":
                following = self.text[self.pos + 1 : self.pos + 2]
                if not following or following not in _ESCAPABLE:
                    raise self.fail("open escape: a backslash must precede one of ' { } \\")
                char = following
                self.pos += 1
            chars.append(char)
            self.pos += 1
        if self.pos >= len(self.text):
            raise self.fail("unclosed string")
        raw = self.text[start : self.pos]
        self.pos += 1
        return _Literal("".join(chars), raw)

    def path(self) -> _PathArgument:
        start = self.pos
        depth = 0
        quote = ""
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if quote:
                if char == quote:
                    quote = ""
            elif char in "'\"" and depth:
                quote = char
            elif char == "[":
                depth += 1
            elif char == "]":
                depth -= 1
            elif char in ",)" and depth == 0:
                break
            self.pos += 1
        try:
            return _PathArgument(parse_path(self.text[start : self.pos].rstrip()))
        except PathSyntaxError as exc:
            raise self.fail(str(exc)) from None


_Arguments = tuple[_Literal | _PathArgument | IntrinsicCall, ...]


def _format(arguments: _Arguments, values: list[Any]) -> str:
    template = values[0]
    if not isinstance(template, str):
        raise TypeError("the template (first argument) must be a string")
    first = arguments[0]
    if isinstance(first, _Literal) and first.raw is not None:
        parts = _template_parts(first.raw, escaped=True)
    else:
        parts = _template_parts(template, escaped=False)
    fillers = values[1:]
    if parts.count(None) != len(fillers):
        raise ValueError(f"the template has {parts.count(None)} {{}} but {len(fillers)} arguments follow it")
    remaining = iter(fillers)
    return "".join(_format_value(next(remaining)) if part is None else part for part in parts)


def _template_parts(text: str, *, escaped: bool) -> list[str | None]:
    """Literal pieces of a template, with None where a ``{}`` placeholder stands."""
    parts: list[str | None] = []
    buffer: list[str] = []
    position = 0
    while position < len(text):
        if escaped and text[position] == "\\":
            buffer.append(text[position + 1])
            position += 2
        elif text.startswith("{}", position):
            parts += ["".join(buffer), None]
            buffer = []
            position += 2
        else:
            buffer.append(text[position])
            position += 1
    parts.append("".join(buffer))
    return parts


def _format_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        raise TypeError("arguments must be strings, numbers, booleans or null, not arrays or objects")
    return to_json(value)


def _string_to_json(_: _Arguments, values: list[Any]) -> Any:
    text = _string(values[0], "the argument")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON text: {exc}") from None


def _json_to_string(_: _Arguments, values: list[Any]) -> str:
    return to_json(values[0])


def _array(_: _Arguments, values: list[Any]) -> list[Any]:
    return list(values)


def _array_partition(_: _Arguments, values: list[Any]) -> list[list[Any]]:
    items = _list(values[0])
    size = _integer(values[1], "the chunk size")
    if size <= 0:
        raise ValueError("the chunk size must be a positive integer")
    return [items[i : i + size] for i in range(0, len(items), size)]


def _array_contains(_: _Arguments, values: list[Any]) -> bool:
    return any(json_equal(item, values[1]) for item in _list(values[0]))


def _array_range(_: _Arguments, values: list[Any]) -> list[int]:
    start, end, step = (_integer(v, name) for v, name in zip(values, ("start", "end", "step"), strict=True))
    if step == 0:
        raise ValueError("the step must not be zero")
    if (end - start) // step + 1 > _MAX_RANGE:
        raise ValueError(f"the range would hold more than {_MAX_RANGE} items")
    return list(range(start, end + (1 if step > 0 else -1), step))


def _array_get_item(_: _Arguments, values: list[Any]) -> Any:
    items = _list(values[0])
    index = _integer(values[1], "the index")
    if not 0 <= index < len(items):
        raise ValueError(f"index {index} is out of range for an array of {len(items)} items")
    return items[index]


def _array_length(_: _Arguments, values: list[Any]) -> int:
    return len(_list(values[0]))


def _array_unique(_: _Arguments, values: list[Any]) -> list[Any]:
    unique: list[Any] = []
    for item in _list(values[0]):
        if not any(json_equal(item, seen) for seen in unique):
            unique.append(item)
    return unique


def _base64_encode(_: _Arguments, values: list[Any]) -> str:
    return base64.b64encode(_string(values[0], "the data").encode()).decode("ascii")


def _base64_decode(_: _Arguments, values: list[Any]) -> str:
    try:
        return base64.b64decode(_string(values[0], "the data"), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"not Base64-encoded UTF-8 text: {exc}") from None


_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


def _hash(_: _Arguments, values: list[Any]) -> str:
    data, algorithm = values
    text = data if isinstance(data, str) else to_json(data)
    _string(text, "the data")
    if algorithm not in _HASHES:
        raise ValueError(f"the algorithm must be one of {', '.join(_HASHES)}, got {algorithm!r}")
    return hashlib.new(_HASHES[algorithm], text.encode()).hexdigest()


def _json_merge(_: _Arguments, values: list[Any]) -> dict[str, Any]:
    first, second, deep = values
    if not isinstance(first, dict) or not isinstance(second, dict):
        raise TypeError("the first two arguments must be JSON objects")
    if not isinstance(deep, bool):
        raise TypeError("the third argument must be a boolean")
    return _merge(first, second, deep)


def _merge(first: dict[str, Any], second: dict[str, Any], deep: bool) -> dict[str, Any]:
    merged = dict(first)
    for key, value in second.items():
        if deep and isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = _merge(merged[key], value, deep)
        else:
            merged[key] = value
    return merged


def _math_random(_: _Arguments, values: list[Any]) -> int:
    start = _integer(values[0], "the start")
    end = _integer(values[1], "the end")
    if start > end:
        raise ValueError("the start must not be greater than the end")
    seed = _integer(values[2], "the seed") if len(values) > 2 else None
    return random.Random(seed).randint(start, end)


def _math_add(_: _Arguments, values: list[Any]) -> int:
    return _integer(values[0], "the first argument") + _integer(values[1], "the second argument")


def _string_split(_: _Arguments, values: list[Any]) -> list[str]:
    """Every character of the delimiter splits, and empty pieces are dropped, as Step Functions does."""
    text = _string(values[0], "the string")
    delimiters = _string(values[1], "the delimiter")
    if not delimiters:
        raise ValueError("the delimiter must not be empty")
    return [piece for piece in re.split(f"[{re.escape(delimiters)}]", text) if piece]


def _uuid(_: _Arguments, values: list[Any]) -> str:
    return str(uuid.uuid4())


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string")
    if len(value) > _MAX_STRING:
        raise ValueError(f"{what} is longer than {_MAX_STRING} characters")
    return value


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError("the first argument must be an array")
    return value


def _integer(value: Any, what: str) -> int:
    if not is_integer(value):
        raise TypeError(f"{what} must be an integer, got {value!r}")
    return int(value)


_Function = Callable[[_Arguments, list[Any]], Any]

# name -> (implementation, least arguments, most arguments or None for no limit)
_FUNCTIONS: dict[str, tuple[_Function, int, int | None]] = {
    "States.Format": (_format, 1, None),
    "States.StringToJson": (_string_to_json, 1, 1),
    "States.JsonToString": (_json_to_string, 1, 1),
    "States.Array": (_array, 0, None),
    "States.ArrayPartition": (_array_partition, 2, 2),
    "States.ArrayContains": (_array_contains, 2, 2),
    "States.ArrayRange": (_array_range, 3, 3),
    "States.ArrayGetItem": (_array_get_item, 2, 2),
    "States.ArrayLength": (_array_length, 1, 1),
    "States.ArrayUnique": (_array_unique, 1, 1),
    "States.Base64Encode": (_base64_encode, 1, 1),
    "States.Base64Decode": (_base64_decode, 1, 1),
    "States.Hash": (_hash, 2, 2),
    "States.JsonMerge": (_json_merge, 3, 3),
    "States.MathRandom": (_math_random, 2, 3),
    "States.MathAdd": (_math_add, 2, 2),
    "States.StringSplit": (_string_split, 2, 2),
    "States.UUID": (_uuid, 0, 0),
}
