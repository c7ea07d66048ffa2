"""The rate limiter against a real Redis: leases of tokens spent in the process, never more
than a bucket's burst across replicas, and unspent leases dropped when they expire."""

from typing import Any

import pytest

from workers.connections import Connections
from workers.ratelimit import LEASE_SECONDS, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def counted(limiter: RateLimiter, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the limiter's trips to Redis."""
    calls: list[int] = []
    script = limiter._take
    original = script.__call__

    async def take(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return await original(*args, **kwargs)

    monkeypatch.setattr(limiter, "_take", take)
    return calls


async def test_a_lease_is_spent_in_the_process_and_the_burst_still_holds(
    connections: Connections, monkeypatch: pytest.MonkeyPatch
) -> None:
    limiter = RateLimiter(connections.redis, rate=100, burst=20, clock=Clock())
    assert limiter.lease_size == 10  # a tenth of a second's worth
    trips = counted(limiter, monkeypatch)

    waits = [await limiter.take("user:1") for _ in range(21)]

    assert waits[:20] == [0.0] * 20
    assert 0 < waits[20] <= 0.01  # one token comes back in 10 ms
    assert len(trips) == 3  # two leases of 10, then the refusal
    assert await limiter.take("user:2") == 0.0  # a bucket of its own


async def test_replicas_share_the_bucket_and_never_pass_more_than_its_burst(
    connections: Connections,
) -> None:
    clock = Clock()
    replicas = [RateLimiter(connections.redis, rate=100, burst=20, clock=clock) for _ in range(3)]
    allowed = 0
    for _ in range(30):
        for replica in replicas:
            allowed += await replica.take("key:9") == 0.0
    # each replica's lease came out of the one bucket: at most the burst (plus what refilled
    # in the milliseconds the loop took) got through
    assert 20 <= allowed <= 22


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
    limiter = RateLimiter(connections.redis, rate=100, burst=20, clock=Clock())
    assert await limiter.take("user:4", cost=15) == 0.0
    assert await limiter.take("user:4", cost=15) > 0  # 5 left in Redis, none leased
    assert await limiter.take("user:4", cost=5) == 0.0
