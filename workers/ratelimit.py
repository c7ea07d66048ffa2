"""Token buckets in Redis, shared by every API replica (the clock is Redis's own).

A process does not ask Redis for every request: it takes up to a tenth of a second's worth of
a bucket's tokens at once (a lease) and spends them itself for at most `LEASE_SECONDS`;
what it has not spent by then is dropped, never given back. So a bucket never lets more
through than its rate and burst, across any number of replicas; a client sending close to
its limit from several replicas may be held back by up to a lease's worth of tokens early.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis

LEASE_SECONDS = 1.0
"""How long a process may spend the tokens of a lease."""

_MAX_LEASES = 10_000  # buckets remembered before the expired ones are dropped

# KEYS[1] bucket; ARGV rate (tokens/s), burst, cost, wanted (>= cost). Takes between cost and
# wanted tokens, as many as there are. Returns {granted, wait in ms}: {0, wait} when refused.
_TAKE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local wanted = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local granted = 0
local wait = 0
if tokens >= cost then
  granted = math.max(cost, math.min(wanted, math.floor(tokens)))
  tokens = tokens - granted
else
  wait = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {granted, wait}
"""


@dataclass(slots=True)
class _Lease:
    tokens: int
    until: float  # on the limiter's clock


class RateLimiter:
    def __init__(
        self,
        redis: "aioredis.Redis",
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.lease_size = max(1, min(burst, math.floor(rate / 10)))
        self._take = redis.register_script(_TAKE)
        self._leases: dict[str, _Lease] = {}

    async def take(self, bucket: str, cost: int = 1) -> float:
        """Spend `cost` tokens of `bucket`; 0 if allowed, else the seconds to wait."""
        now = self.clock()
        lease = self._leases.get(bucket)
        if lease is not None and lease.tokens >= cost and now < lease.until:
            lease.tokens -= cost
            return 0.0
        granted, wait_ms = await self._take(
            keys=[f"ratelimit:{bucket}"],
            args=[self.rate, self.burst, cost, max(cost, self.lease_size)],
        )
        if not granted:
            return int(wait_ms) / 1000
        if len(self._leases) >= _MAX_LEASES:
            self._leases = {b: kept for b, kept in self._leases.items() if now < kept.until}
        self._leases[bucket] = _Lease(int(granted) - cost, now + LEASE_SECONDS)
        return 0.0
