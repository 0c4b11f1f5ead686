"""The per-tenant token bucket, on a clock the test moves."""

from __future__ import annotations

import pytest

from reelstep.api.throttle import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_allowed_then_requests_wait_for_the_refill() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.take("acme") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("acme") == pytest.approx(0.5)
    clock.now += 0.5
    assert buckets.take("acme") == 0.0
    assert buckets.take("acme") == pytest.approx(0.5)


def test_the_bucket_refills_no_higher_than_the_burst() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=10.0, burst=2, clock=clock)
    buckets.take("acme")
    clock.now += 3600
    assert [buckets.take("acme") for _ in range(3)][:2] == [0.0, 0.0]
    assert buckets.take("acme") > 0


def test_each_tenant_has_its_own_bucket() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1, clock=Clock())
    assert buckets.take("acme") == 0.0
    assert buckets.take("acme") > 0
    assert buckets.take("other") == 0.0


def test_a_zero_rate_turns_throttling_off() -> None:
    buckets = TokenBuckets(rate=0.0, burst=1, clock=Clock())
    assert all(buckets.take("acme") == 0.0 for _ in range(1000))
