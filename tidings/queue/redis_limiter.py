"""The distributed profile's throughput cap: a token bucket in Redis, shared by every process.

The same reserve-then-sleep algorithm as `LocalTokenBucket`, run atomically by one Lua script
per `acquire`: the script refills the bucket from the time elapsed (Redis's own clock, so
workers on machines with skewed clocks agree), takes `n` tokens, lets the balance go negative
and returns how long the caller must sleep for the debt it left to be repaid. One round trip
per acquire, no polling, callers served in arrival order across processes. A cancelled caller
gives its tokens back. The key expires once the bucket would be full again, so idle buckets
cost nothing. `rate == 0` means unlimited and never touches Redis.

Priority lane: a bulk caller's reservation is fixed when it is made, so a priority caller
(a verification code) cannot queue behind the bulk callers already asleep without waiting out
their whole backlog. The script therefore keeps a second balance, `ptokens`, refilled at the
same rate and spent only by priority callers: a priority caller waits only for that balance
(other priority callers, never bulk debt), and it also spends the shared balance, so every bulk
reservation made afterwards is pushed back by it. Over any long stretch the sum of both stays
within the rate; the cap can be overrun only by the priority messages sent while earlier bulk
reservations are still being slept off (verification traffic is small; bulk callers are bounded
by the dispatch worker's concurrency). `LocalTokenBucket` needs no such allowance: in one
process the waiting lines are explicit.

Every process sharing a key should use the same rate and burst; the script applies the ones
passed by the caller.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from tidings.queue.redis_streams import QueueError, redis_errors

__all__ = ["QueueError", "RedisTokenBucket", "TOKEN_BUCKET_LUA"]

# KEYS[1]: the bucket (a hash: tokens, ptokens, ts in microseconds). ARGV: rate/s, burst, n
# (n < 0 returns tokens), priority (1 or 0). Returns the wait in microseconds (an integer: Lua
# numbers become integers).
TOKEN_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local priority = ARGV[4] == '1'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'ptokens')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
local ptokens = tonumber(state[3])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if ptokens == nil then
  ptokens = burst
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000000)
  ptokens = math.min(burst, ptokens + (now - ts) * rate / 1000000)
  ts = now
end
tokens = math.min(burst, tokens - n)
local own = tokens
if priority then
  ptokens = math.min(burst, ptokens - n)
  own = ptokens
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.17g', ts),
           'ptokens', string.format('%.17g', ptokens))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - math.min(tokens, ptokens)) / rate * 1000) + 1000)
if own >= 0 then
  return 0
end
return math.ceil(-own / rate * 1000000)
"""


class RedisTokenBucket:
    """`Limiter` shared through Redis key `key`: `rate` per second (0 = unlimited), `burst`
    saved up at most (default: one second's worth, at least 1); priority callers have a lane."""

    def __init__(self, redis: Redis, key: str, rate: float, burst: float | None = None) -> None:
        if rate < 0:
            raise ValueError("rate must not be negative")
        self.key = key
        self.rate = float(rate)
        self.burst = float(burst) if burst is not None else max(1.0, self.rate)
        if self.burst <= 0:
            raise ValueError("burst must be positive")
        self._script = redis.register_script(TOKEN_BUCKET_LUA)

    async def _reserve(self, n: int, priority: bool) -> int:
        with redis_errors(f"rate limiter {self.key}"):
            wait_us = await self._script(
                keys=[self.key], args=[repr(self.rate), repr(self.burst), n, "1" if priority else "0"]
            )
        return int(wait_us)

    async def acquire(self, n: int = 1, *, priority: bool = False) -> None:
        if n <= 0 or self.rate == 0:
            return
        wait_us = await self._reserve(n, priority)
        if wait_us <= 0:
            return
        try:
            await asyncio.sleep(wait_us / 1_000_000)
        except asyncio.CancelledError:
            try:
                await self._reserve(-n, priority)
            except QueueError:
                pass  # the tokens stay spent: the cap errs on the safe side
            raise
