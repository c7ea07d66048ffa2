"""Token buckets in Redis, shared by every API replica (the clock is Redis's own)."""

import redis.asyncio as aioredis

# KEYS[1] bucket; ARGV rate (tokens/s), burst, cost. Returns the wait in ms (0 = allowed).
_TAKE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
else
  wait = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
"""


class RateLimiter:
    def __init__(self, redis: "aioredis.Redis", rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._take = redis.register_script(_TAKE)

    async def take(self, bucket: str, cost: int = 1) -> float:
        """Spend `cost` tokens of `bucket`; 0 if allowed, else the seconds to wait."""
        wait_ms = await self._take(keys=[f"ratelimit:{bucket}"], args=[self.rate, self.burst, cost])
        return int(wait_ms) / 1000
