"""Listing cursors: opaque, round-tripping the store's cursor, and bound to the status filter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reelstep.api.pagination import decode_cursor, encode_cursor
from reelstep.errors import InvalidInput

STATUSES = st.sampled_from([None, "queued", "running", "succeeded", "failed", "cancelled"])


@given(store_cursor=st.text(max_size=200), status=STATUSES)
def test_a_cursor_round_trips_under_its_own_filter(store_cursor: str, status: str | None) -> None:
    cursor = encode_cursor(store_cursor, status)
    assert cursor.isascii() and "=" not in cursor
    assert decode_cursor(cursor, status) == store_cursor


def test_a_cursor_is_refused_under_another_filter() -> None:
    cursor = encode_cursor("abc", "failed")
    with pytest.raises(InvalidInput, match="status=failed; this request asks for status=any"):
        decode_cursor(cursor, None)


@pytest.mark.parametrize("garbage", ["", "garbage", "!!!", "e30", "WzEsMl0", "x" * 5000, "bnVsbA"])
def test_anything_else_is_an_invalid_cursor(garbage: str) -> None:
    with pytest.raises(InvalidInput, match="invalid cursor"):
        decode_cursor(garbage, None)
