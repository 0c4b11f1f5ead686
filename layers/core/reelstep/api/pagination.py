"""Opaque cursors for ``GET /v1/jobs``: the job store's own cursor, bound to the listing's status filter.

The binding makes a cursor from a listing of ``failed`` jobs fail loudly when sent with another filter,
instead of silently starting that listing in the middle.
"""

from __future__ import annotations

import base64
import binascii
import json

from reelstep.errors import InvalidInput

MAX_CURSOR_LENGTH = 2048


def encode_cursor(store_cursor: str, status: str | None) -> str:
    data = json.dumps({"c": store_cursor, "s": status}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode_cursor(cursor: str, status: str | None) -> str:
    """The job store's cursor inside ``cursor``; InvalidInput if it is not ours or not for ``status``."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidInput("invalid cursor: too long")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("invalid cursor: pass the next_cursor of the previous page unchanged") from None
    if not isinstance(data, dict) or not isinstance(data.get("c"), str):
        raise InvalidInput("invalid cursor: pass the next_cursor of the previous page unchanged")
    if data.get("s") != status:
        raise InvalidInput(
            f"this cursor belongs to a listing with status={data.get('s') or 'any'}; "
            f"this request asks for status={status or 'any'}"
        )
    store_cursor: str = data["c"]
    return store_cursor
