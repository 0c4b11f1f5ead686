"""Payload Templates: the Parameters, ResultSelector and ItemSelector objects.

A field whose name ends in ".$" takes its value from a path ("$..." on the template's input, "$$..." on
the context object) or an intrinsic function, and loses the ".$" suffix. Everything is compiled when the
definition loads, so a malformed path or call is a definition error, not a runtime surprise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reelstep.asl.errors import RUNTIME, StatesError
from reelstep.asl.intrinsics import IntrinsicCall, IntrinsicSyntaxError, parse_intrinsic
from reelstep.asl.paths import JsonPath, PathNotFound, PathSyntaxError, parse_path
from reelstep.asl.values import to_json

_SHOWN_INPUT_CHARS = 200


class TemplateError(ValueError):
    """A payload template is malformed (a bad path or call, or two fields with one name)."""


@dataclass(frozen=True)
class _Dynamic:
    field: str
    source: JsonPath | IntrinsicCall


@dataclass(frozen=True)
class _Object:
    fields: tuple[tuple[str, _Node], ...]


@dataclass(frozen=True)
class _Array:
    items: tuple[_Node, ...]


@dataclass(frozen=True)
class _Constant:
    value: Any


_Node = _Dynamic | _Object | _Array | _Constant


@dataclass(frozen=True)
class PayloadTemplate:
    """A compiled payload template; ``evaluate`` builds the payload from an input and a context."""

    root: _Node

    def evaluate(self, data: Any, context: Any) -> Any:
        return _build(self.root, data, context)


def compile_template(raw: Any) -> PayloadTemplate:
    """Compile a template; raises TemplateError. The spec requires an object at the top."""
    if not isinstance(raw, dict):
        raise TemplateError("a payload template must be a JSON object")
    return PayloadTemplate(_compile(raw, "$"))


def _compile_dynamic(field: str, value: Any) -> JsonPath | IntrinsicCall:
    """The source of a ".$" value: a path, a context path or an intrinsic call."""
    if not isinstance(value, str):
        raise TemplateError(f"the value of {field!r} must be a path or an intrinsic function string")
    try:
        return parse_path(value) if value.startswith("$") else parse_intrinsic(value)
    except (PathSyntaxError, IntrinsicSyntaxError) as exc:
        raise TemplateError(f"field {field!r}: {exc}") from None


def _compile(raw: Any, where: str) -> _Node:
    if isinstance(raw, dict):
        fields: list[tuple[str, _Node]] = []
        seen: set[str] = set()
        for key, value in raw.items():
            name = key[:-2] if key.endswith(".$") else key
            if name in seen:
                raise TemplateError(f"{where} has two fields named {name!r} once '.$' is stripped")
            seen.add(name)
            if key.endswith(".$"):
                fields.append((name, _Dynamic(key, _compile_dynamic(key, value))))
            else:
                fields.append((name, _compile(value, f"{where}.{key}")))
        return _Object(tuple(fields))
    if isinstance(raw, list):
        return _Array(tuple(_compile(item, f"{where}[{i}]") for i, item in enumerate(raw)))
    return _Constant(raw)


def _build(node: _Node, data: Any, context: Any) -> Any:
    if isinstance(node, _Object):
        return {name: _build(child, data, context) for name, child in node.fields}
    if isinstance(node, _Array):
        return [_build(child, data, context) for child in node.items]
    if isinstance(node, _Constant):
        return node.value
    try:
        return node.source.evaluate(data, context)
    except PathNotFound:
        assert isinstance(node.source, JsonPath)
        shown = to_json(context if node.source.on_context else data)
        if len(shown) > _SHOWN_INPUT_CHARS:
            shown = shown[:_SHOWN_INPUT_CHARS] + "..."
        raise StatesError(
            RUNTIME,
            f"The JSONPath '{node.source}' specified for the field '{node.field}' could not be found "
            f"in the input '{shown}'",
        ) from None
