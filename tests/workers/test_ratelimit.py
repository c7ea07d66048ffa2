"""The rate limiter against a real Redis: leases of tokens spent in the process, one trip to
Redis per bucket at a time, the bound on what passes, and unspent leases dropped when they
expire."""

import asyncio
from typing import Any

import pytest

from workers.connections import Connections
from workers.ratelimit import LEASE_SECONDS, RateLimiter


class Clock:
    """The limiter's clock for leases, moved by hand (Redis keeps its own for refills)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def counted(limiter: RateLimiter, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the limiter's trips to Redis."""
    calls: list[int] = []
    original = limiter._take.__call__

    async def take(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return await original(*args, **kwargs)

    monkeypatch.setattr(limiter, "_take", take)
    return calls


async def test_a_lease_is_spent_in_the_process_and_the_burst_still_holds(
    connections: Connections, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 50/s: one token back every 20 ms, far longer than these 21 calls take
    limiter = RateLimiter(connections.redis, rate=50, burst=20, clock=Clock())
    assert limiter.lease_size == 5  # a tenth of a second's worth
    trips = counted(limiter, monkeypatch)

    waits = [await limiter.take("user:1") for _ in range(21)]

    assert waits[:20] == [0.0] * 20
    assert 0 < waits[20] <= 0.02
    assert len(trips) == 5  # four leases of 5, then the refusal
    assert await limiter.take("user:2") == 0.0  # a bucket of its own


async def test_concurrent_requests_share_one_trip_and_none_is_refused_within_the_burst(
    connections: Connections, monkeypatch: pytest.MonkeyPatch
) -> None:
    limiter = RateLimiter(connections.redis, rate=50, burst=200, clock=Clock())
    trips = counted(limiter, monkeypatch)

    waits = await asyncio.gather(*(limiter.take("user:5") for _ in range(64)))

    assert waits == [0.0] * 64  # 64 of a burst of 200: every one passes
    assert len(trips) == 13  # a lease of 5 at a time, never two asks at once


async def test_what_passes_is_the_burst_plus_at_most_one_lease(
    connections: Connections,
) -> None:
    limiter = RateLimiter(connections.redis, rate=100, burst=20, clock=Clock())
    assert await limiter.take("key:9") == 0.0  # leases 10: 9 left here, 10 in Redis
    await asyncio.sleep(0.3)  # Redis refills to the burst while the lease waits
    allowed = 0
    for _ in range(40):
        allowed += await limiter.take("key:9") == 0.0
    assert 29 <= allowed <= 20 + limiter.lease_size


async def test_replicas_share_the_bucket(connections: Connections) -> None:
    clock = Clock()
    replicas = [RateLimiter(connections.redis, rate=50, burst=20, clock=clock) for _ in range(3)]
    allowed = 0
    for _ in range(30):
        for replica in replicas:
            allowed += await replica.take("key:10") == 0.0
    # the leases all came out of the one bucket (plus a token of refill at most)
    assert 20 <= allowed <= 21


async def test_an_expired_lease_is_dropped_not_spent(
    connections: Connections, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    limiter = RateLimiter(connections.redis, rate=100, burst=20, clock=clock)
    trips = counted(limiter, monkeypatch)
    assert await limiter.take("user:3") == 0.0  # leases 10, spends 1
    assert await limiter.take("user:3") == 0.0
    assert len(trips) == 1
    clock.now += LEASE_SECONDS
    assert await limiter.take("user:3") == 0.0  # the 8 left are gone: a new lease
    assert len(trips) == 2


async def test_a_cost_larger_than_a_lease_is_taken_whole(connections: Connections) -> None:
    limiter = RateLimiter(connections.redis, rate=50, burst=20, clock=Clock())
    assert await limiter.take("user:4", cost=15) == 0.0
    assert await limiter.take("user:4", cost=15) > 0  # 5 left in Redis, none leased
    assert await limiter.take("user:4", cost=5) == 0.0
