"""Token buckets in Redis, shared by every API replica (the clock is Redis's own).

A process does not ask Redis for every request: it takes up to a tenth of a second's worth of
a bucket's tokens at once (a lease) and spends them itself for at most `LEASE_SECONDS`;
what it has not spent by then is dropped, never given back. One request per bucket asks Redis
at a time; the others wait for its lease. The bucket refills in Redis while a lease is spent,
so in any span a bucket passes at most what it would without leases plus one lease per API
process (a burst of 200 at 50/s: at most 205 at once with one process); a client sending close
to its limit from several processes may instead be held back a little early.
"""

import asyncio
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
        self._asking: dict[str, asyncio.Future[None]] = {}  # buckets whose lease is asked for
        self._pruned_at = -math.inf

    async def take(self, bucket: str, cost: int = 1) -> float:
        """Spend `cost` tokens of `bucket`; 0 if allowed, else the seconds to wait."""
        while True:
            lease = self._leases.get(bucket)
            if lease is not None and lease.tokens >= cost and self.clock() < lease.until:
                lease.tokens -= cost
                return 0.0
            asking = self._asking.get(bucket)
            if asking is None:
                break
            await asyncio.shield(asking)  # its lease may serve this request too
        asking = self._asking[bucket] = asyncio.get_running_loop().create_future()
        try:
            granted, wait_ms = await self._take(
                keys=[f"ratelimit:{bucket}"],
                args=[self.rate, self.burst, cost, max(cost, self.lease_size)],
            )
        finally:
            del self._asking[bucket]
            asking.set_result(None)
        if not granted:
            return int(wait_ms) / 1000
        now = self.clock()
        self._prune(now)
        lease = self._leases.get(bucket)
        left = lease.tokens if lease is not None and now < lease.until else 0
        self._leases[bucket] = _Lease(left + int(granted) - cost, now + LEASE_SECONDS)
        return 0.0

    def _prune(self, now: float) -> None:
        """Forget expired leases once there are many (at most once a lease's life)."""
        if len(self._leases) >= _MAX_LEASES and now >= self._pruned_at + LEASE_SECONDS:
            self._leases = {b: kept for b, kept in self._leases.items() if now < kept.until}
            self._pruned_at = now
