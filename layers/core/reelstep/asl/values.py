"""JSON value helpers shared by paths, intrinsics, choice rules and the executor.

Python's bool is an int, so every "is this a number" and "are these equal" question is asked here, once,
with JSON's meaning: true is not 1.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})",
)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_integer(value: Any) -> bool:
    """An integral JSON number: 3 and 3.0 both count, as they do in JavaScript-based JSON."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def json_equal(left: Any, right: Any) -> bool:
    """Deep equality with JSON types: numbers compare by value, booleans never equal numbers."""
    if is_number(left) and is_number(right):
        return bool(left == right)
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    return bool(left == right)


def to_json(value: Any) -> str:
    """Compact JSON text, the form Step Functions uses for JsonToString and payload sizes."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp with an uppercase T and a Z or numeric offset, as the spec demands."""
    if not isinstance(value, str):
        return None
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    offset = "+00:00" if zone == "Z" else zone
    try:
        return datetime.fromisoformat(
            f"{year}-{month}-{day}T{hour}:{minute}:{second}.{micros:06d}{offset}",
        )
    except ValueError:
        return None


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, the way the context object shows times."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
