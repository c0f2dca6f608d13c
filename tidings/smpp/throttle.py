"""Throughput caps: the `RateLimiter` seam and a local token bucket.

A carrier grants each bind a number of messages per second and answers ESME_RTHROTTLED beyond it,
so the client paces itself before sending. Anything with `async acquire(n=1)` works: the embedded
profile uses `TokenBucket`, the distributed profile passes a Redis-backed limiter shared by every
process bound to the same account.

`TokenBucket` reserves instead of polling: each caller takes its tokens at once, letting the
balance go negative, and sleeps exactly until the balance it left behind is paid back. Callers are
therefore served in arrival order with one sleep each, and a cancelled caller gives its tokens back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["RateLimiter", "TokenBucket"]


class RateLimiter(Protocol):
    async def acquire(self, n: int = 1) -> None:
        """Return once `n` more messages may be sent."""
        ...


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up (default: one second's worth)."""

    def __init__(self, rate: float, burst: float | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = float(burst) if burst is not None else max(1.0, self.rate)
        if self.burst < 1:
            raise ValueError("burst must allow at least one token")
        self._clock = clock
        self._tokens = self.burst
        self._updated = clock()

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        return self._tokens

    @property
    def available(self) -> float:
        """Tokens that can be taken right now without waiting (negative while callers queue)."""
        return self._refill()

    async def acquire(self, n: int = 1) -> None:
        if n > self.burst:
            raise ValueError(f"cannot acquire {n} tokens from a bucket of {self.burst}")
        self._refill()
        self._tokens -= n
        if self._tokens >= 0:
            return
        try:
            await asyncio.sleep(-self._tokens / self.rate)
        except asyncio.CancelledError:
            self._refill()
            self._tokens = min(self.burst, self._tokens + n)
            raise
