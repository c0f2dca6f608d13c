"""`FraudStore` in Redis for the distributed profile: every API process sees the same counts.

Rate-limit windows are sorted sets of hit times (one Lua script checks every window and records
the hit in all of them or none, atomically); pumping counters are hashes of bucket start -> count
(old buckets pruned on write); blocks are plain keys with a PX expiry, set with NX so that only
the first process to block a prefix raises the alert. Every key expires on its own once idle.
Times come from the caller (the guard's clock), like `LocalFraudStore`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from redis.asyncio import Redis

from tidings.policy.fraud_store import Window
from tidings.queue.redis_streams import redis_errors

__all__ = ["RedisFraudStore"]

# KEYS: one sorted set per window. ARGV[1] now ms, ARGV[2] a unique member, then limit and
# window ms per key. Returns {0, 0} when recorded, else {1-based index, ms until room}.
_TAKE_LUA = """
local now = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[1 + 2 * i])
  local window = tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if oldest[2] == nil then
      return {i, window}
    end
    return {i, math.max(1, tonumber(oldest[2]) + window - now)}
  end
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[2])
  redis.call('PEXPIRE', key, tonumber(ARGV[2 + 2 * i]))
end
return {0, 0}
"""

# KEYS[1]: hash bucket start -> count. ARGV: bucket start, oldest bucket to keep, ttl ms.
_ADD_LUA = """
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
local oldest = tonumber(ARGV[2])
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if tonumber(field) < oldest then
    redis.call('HDEL', KEYS[1], field)
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


class RedisFraudStore:
    """`FraudStore` shared through Redis; every key starts with `prefix`."""

    def __init__(self, redis: Redis, prefix: str = "tidings:fraud:") -> None:
        self._redis = redis
        self.prefix = prefix
        self._take = redis.register_script(_TAKE_LUA)
        self._add = redis.register_script(_ADD_LUA)

    async def take(self, windows: Sequence[Window], now_ms: int) -> tuple[int, int]:
        if not windows:
            return -1, 0
        args: list[str | int] = [now_ms, uuid.uuid4().hex]
        for window in windows:
            args += [window.limit, window.window_ms]
        with redis_errors("fraud guard windows"):
            index, wait_ms = await self._take(keys=[self.prefix + w.key for w in windows], args=args)
        return int(index) - 1, int(wait_ms)

    async def add(self, key: str, now_ms: int, bucket_ms: int, keep_ms: int) -> None:
        start = now_ms - now_ms % bucket_ms
        with redis_errors("fraud guard counters"):
            await self._add(keys=[self.prefix + key], args=[start, now_ms - keep_ms - bucket_ms, keep_ms + 2 * bucket_ms])

    async def total(self, key: str, since_ms: int, until_ms: int, bucket_ms: int) -> int:
        with redis_errors("fraud guard counters"):
            buckets = await self._redis.hgetall(self.prefix + key)
        return sum(int(n) for start, n in buckets.items() if since_ms <= int(start) < until_ms)

    async def forget(self, keys: Sequence[str]) -> None:
        if keys:
            with redis_errors("fraud guard counters"):
                await self._redis.delete(*(self.prefix + key for key in keys))

    async def block(self, key: str, until_ms: int, now_ms: int) -> bool:
        with redis_errors("fraud guard blocks"):
            created = await self._redis.set(self.prefix + key, until_ms, px=max(1, until_ms - now_ms), nx=True)
        return bool(created)

    async def blocked_until(self, key: str, now_ms: int) -> int | None:
        with redis_errors("fraud guard blocks"):
            value = await self._redis.get(self.prefix + key)
        if value is None or int(value) <= now_ms:
            return None
        return int(value)
