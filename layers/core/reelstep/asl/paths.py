"""JSONPath as the States Language uses it (the Jayway dialect), and Reference Paths.

A path made only of names and indexes is definite: it yields one value or fails. Any wildcard, slice,
union, filter or recursive descent makes it indefinite: it yields a list of every match, maybe empty,
which is how Step Functions gathers "$.a[0,1]" into an array. "$$" paths read the context object.
"""

from __future__ import annotations

import copy
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from reelstep.asl.values import is_number, json_equal


class PathSyntaxError(ValueError):
    """The text is not a path this interpreter understands."""


class PathNotFound(LookupError):
    """A definite path does not match the data (or a reference path cannot be written into it)."""


@dataclass(frozen=True)
class _Field:
    name: str


@dataclass(frozen=True)
class _Index:
    index: int


@dataclass(frozen=True)
class _Wildcard:
    pass


@dataclass(frozen=True)
class _Slice:
    start: int | None
    stop: int | None
    step: int | None


@dataclass(frozen=True)
class _Union:
    keys: tuple[str | int, ...]


@dataclass(frozen=True)
class _Filter:
    predicate: _Predicate


@dataclass(frozen=True)
class _Descend:
    inner: _Segment


_Segment = _Field | _Index | _Wildcard | _Slice | _Union | _Filter | _Descend
_MISSING = object()


@dataclass(frozen=True)
class JsonPath:
    """A parsed path; ``evaluate`` reads it, ``assign`` writes a value at it (reference paths only)."""

    text: str
    segments: tuple[_Segment, ...]
    on_context: bool

    @property
    def definite(self) -> bool:
        return all(isinstance(s, _Field | _Index) for s in self.segments)

    def evaluate(self, data: Any, context: Any = None) -> Any:
        """The value at the path; a list of matches for an indefinite path. Raises PathNotFound."""
        nodes = [context if self.on_context else data]
        strict = self.definite
        for segment in self.segments:
            nodes = list(_step(segment, nodes, strict, data))
        return nodes[0] if strict else nodes

    def exists(self, data: Any, context: Any = None) -> bool:
        try:
            self.evaluate(data, context)
        except PathNotFound:
            return False
        return True

    def assign(self, data: Any, value: Any) -> Any:
        """A copy of data with value placed at this reference path, creating missing objects on the way."""
        if not self.segments:
            return value
        result = copy.deepcopy(data)
        node = result
        for position, segment in enumerate(self.segments):
            last = position == len(self.segments) - 1
            if isinstance(segment, _Field):
                if not isinstance(node, dict):
                    raise PathNotFound(f"cannot set field {segment.name!r} on {_kind(node)}")
                if last:
                    node[segment.name] = value
                else:
                    node = node.setdefault(segment.name, {})
            else:
                assert isinstance(segment, _Index)
                if not isinstance(node, list) or not -len(node) <= segment.index < len(node):
                    raise PathNotFound(f"no element [{segment.index}] in {_kind(node)}")
                if last:
                    node[segment.index] = value
                else:
                    node = node[segment.index]
        return result

    def __str__(self) -> str:
        return self.text


def parse_path(text: str) -> JsonPath:
    """Parse a Path ("$..." or "$$..."); raises PathSyntaxError."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise PathSyntaxError(f"a path must be a string starting with '$', got {text!r}")
    on_context = text.startswith("$$")
    parser = _Parser(text, 2 if on_context else 1)
    return JsonPath(text, parser.segments(), on_context)


def parse_reference_path(text: str, *, allow_context: bool = True) -> JsonPath:
    """Parse a Reference Path: names and indexes only, so it names exactly one node."""
    path = parse_path(text)
    if not path.definite:
        raise PathSyntaxError(f"{text!r} is not a reference path: it must name a single node")
    if path.on_context and not allow_context:
        raise PathSyntaxError(f"{text!r} cannot refer to the context object here")
    return path


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if is_number(value):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _step(segment: _Segment, nodes: list[Any], strict: bool, root: Any) -> Iterator[Any]:
    for node in nodes:
        if isinstance(segment, _Field):
            if isinstance(node, dict) and segment.name in node:
                yield node[segment.name]
            elif strict:
                raise PathNotFound(f"no field {segment.name!r} in {_kind(node)}")
        elif isinstance(segment, _Index):
            if isinstance(node, list) and -len(node) <= segment.index < len(node):
                yield node[segment.index]
            elif strict:
                raise PathNotFound(f"no element [{segment.index}] in {_kind(node)}")
        elif isinstance(segment, _Wildcard):
            yield from _children(node)
        elif isinstance(segment, _Slice):
            if isinstance(node, list):
                yield from node[segment.start : segment.stop : segment.step]
        elif isinstance(segment, _Union):
            for key in segment.keys:
                inner: _Segment = _Field(key) if isinstance(key, str) else _Index(key)
                yield from _step(inner, [node], False, root)
        elif isinstance(segment, _Filter):
            candidates = node if isinstance(node, list) else [node] if isinstance(node, dict) else []
            yield from (item for item in candidates if segment.predicate(item, root))
        else:
            yield from _step(segment.inner, list(_descendants(node)), False, root)


def _children(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return list(node.values())
    if isinstance(node, list):
        return list(node)
    return []


def _descendants(node: Any) -> Iterator[Any]:
    yield node
    for child in _children(node):
        yield from _descendants(child)


class _Parser:
    """Recursive-descent parser over the text after the leading '$' (or '$$', or '@' in filters)."""

    def __init__(self, text: str, position: int) -> None:
        self.text = text
        self.pos = position

    def fail(self, why: str) -> PathSyntaxError:
        return PathSyntaxError(f"invalid path {self.text!r} at position {self.pos}: {why}")

    def segments(self) -> tuple[_Segment, ...]:
        found: list[_Segment] = []
        while self.pos < len(self.text):
            if self.text.startswith("..", self.pos):
                self.pos += 2
                inner = self.bracket() if self.peek() == "[" else self.member()
                found.append(_Descend(inner))
            elif self.peek() == ".":
                self.pos += 1
                found.append(self.member())
            elif self.peek() == "[":
                found.append(self.bracket())
            else:
                raise self.fail("expected '.' or '['")
        return tuple(found)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def member(self) -> _Segment:
        if self.peek() == "*":
            self.pos += 1
            return _Wildcard()
        name: list[str] = []
        while self.pos < len(self.text) and self.text[self.pos] not in ".[":
            char = self.text[self.pos]
            if char == "\\":
                self.pos += 1
                if self.pos >= len(self.text):
                    raise self.fail("dangling escape")
                char = self.text[self.pos]
            name.append(char)
            self.pos += 1
        if not name:
            raise self.fail("empty field name")
        return _Field("".join(name))

    def bracket(self) -> _Segment:
        self.pos += 1
        self.skip_spaces()
        char = self.peek()
        segment: _Segment
        if char == "*":
            self.pos += 1
            segment = _Wildcard()
        elif char == "?":
            segment = self.filter()
        elif char in "'\"":
            names = [self.quoted()]
            self.skip_spaces()
            while self.peek() == ",":
                self.pos += 1
                self.skip_spaces()
                names.append(self.quoted())
                self.skip_spaces()
            segment = _Field(names[0]) if len(names) == 1 else _Union(tuple(names))
        else:
            end = self.text.find("]", self.pos)
            if end < 0:
                raise self.fail("unclosed '['")
            segment = self.numeric(self.text[self.pos : end])
            self.pos = end
        self.skip_spaces()
        if self.peek() != "]":
            raise self.fail("expected ']'")
        self.pos += 1
        return segment

    def numeric(self, content: str) -> _Segment:
        try:
            if ":" in content:
                parts = [p.strip() for p in content.split(":")]
                if len(parts) > 3:
                    raise ValueError(content)
                start, stop, step = (int(p) if p else None for p in [*parts, ""][:3])
                if step == 0:
                    raise ValueError(content)
                return _Slice(start, stop, step)
            indexes = tuple(int(p) for p in content.split(","))
        except ValueError:
            raise self.fail(f"bad index or slice {content!r}") from None
        return _Index(indexes[0]) if len(indexes) == 1 else _Union(indexes)

    def quoted(self) -> str:
        quote = self.peek()
        if quote not in "'\"":
            raise self.fail("expected a quoted name")
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text) and self.text[self.pos] != quote:
            if self.text[self.pos] == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
            chars.append(self.text[self.pos])
            self.pos += 1
        if self.pos >= len(self.text):
            raise self.fail("unclosed quote")
        self.pos += 1
        return "".join(chars)

    def skip_spaces(self) -> None:
        while self.peek() == " ":
            self.pos += 1

    def filter(self) -> _Segment:
        self.pos += 1
        self.skip_spaces()
        if self.peek() != "(":
            raise self.fail("expected '(' after '?'")
        start = self.pos
        end = _closing(self.text, start)
        if end < 0:
            raise self.fail("unclosed filter")
        predicate = _FilterParser(self.text[start + 1 : end], self.text).expression()
        self.pos = end + 1
        return _Filter(predicate)


def _closing(text: str, open_at: int) -> int:
    """Index of the ')' matching the '(' at open_at, skipping quoted text; -1 if none."""
    depth = 0
    quote = ""
    position = open_at
    while position < len(text):
        char = text[position]
        if quote:
            if char == "\\":
                position += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return position
        position += 1
    return -1


_Predicate = Callable[[Any, Any], bool]
_Operand = Callable[[Any, Any], Any]

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": json_equal,
    "!=": lambda a, b: not json_equal(a, b),
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_FILTER_TOKEN = re.compile(
    r"\s*(?:(?P<op>==|!=|<=|>=|<|>|&&|\|\||\(|\))|(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<word>true|false|null)\b"
    r"|(?P<path>[@$](?:\[[^\]]*\]|[^\s=!<>&|()\[])*))",
)


class _FilterParser:
    """Filter expressions: comparisons of '@' paths with literals, existence tests, && and ||."""

    def __init__(self, text: str, whole: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while text[position:].strip():
            match = _FILTER_TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise PathSyntaxError(f"invalid filter in {whole!r}: cannot read {text[position:]!r}")
            kind = match.lastgroup
            assert kind is not None
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.whole = whole
        self.index = 0

    def fail(self) -> PathSyntaxError:
        return PathSyntaxError(f"invalid filter in {self.whole!r}")

    def take(self) -> tuple[str, str]:
        if self.index >= len(self.tokens):
            raise self.fail()
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at(self, value: str) -> bool:
        return self.index < len(self.tokens) and self.tokens[self.index] == ("op", value)

    def expression(self) -> _Predicate:
        predicate = self.disjunction()
        if self.index != len(self.tokens):
            raise self.fail()
        return predicate

    def disjunction(self) -> _Predicate:
        parts = [self.conjunction()]
        while self.at("||"):
            self.index += 1
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else lambda item, root: any(p(item, root) for p in parts)

    def conjunction(self) -> _Predicate:
        parts = [self.term()]
        while self.at("&&"):
            self.index += 1
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else lambda item, root: all(p(item, root) for p in parts)

    def term(self) -> _Predicate:
        if self.at("("):
            self.index += 1
            inner = self.disjunction()
            if not self.at(")"):
                raise self.fail()
            self.index += 1
            return inner
        left = self.operand()
        if self.index < len(self.tokens) and self.tokens[self.index][1] in _COMPARISONS:
            compare = _COMPARISONS[self.take()[1]]
            right = self.operand()
            return lambda item, root: _compare(compare, left(item, root), right(item, root))
        return lambda item, root: left(item, root) is not _MISSING

    def operand(self) -> _Operand:
        kind, text = self.take()
        if kind == "path":
            path = JsonPath(text, _Parser(text, 1).segments(), on_context=False)
            relative = text.startswith("@")

            def read(item: Any, root: Any) -> Any:
                try:
                    return path.evaluate(item if relative else root)
                except PathNotFound:
                    return _MISSING

            return read
        if kind == "str":
            literal: Any = re.sub(r"\\(.)", r"\1", text[1:-1])
        elif kind == "num":
            literal = float(text) if any(c in text for c in ".eE") else int(text)
        elif kind == "word":
            literal = {"true": True, "false": False, "null": None}[text]
        else:
            raise self.fail()
        return lambda item, root: literal


def _compare(compare: Callable[[Any, Any], bool], left: Any, right: Any) -> bool:
    if left is _MISSING or right is _MISSING:
        return False
    if compare in (operator.lt, operator.le, operator.gt, operator.ge):
        same_kind = (is_number(left) and is_number(right)) or (
            isinstance(left, str) and isinstance(right, str)
        )
        if not same_kind:
            return False
    return compare(left, right)
