"""The embedded profile's throughput cap: an in-process token bucket implementing `Limiter`.

`rate` tokens per second accrue up to `burst`. A caller reserves its tokens at once, letting
the balance go negative, and sleeps exactly until the debt it left is paid back: callers are
served in arrival order with one sleep each, no polling, and `acquire(n)` with n larger than
`burst` simply waits longer instead of failing (a long SMS may need more parts than the burst).
A cancelled caller gives its tokens back. `rate == 0` means unlimited.

`tidings.smpp.throttle.TokenBucket` works the same way but belongs to the SMPP protocol
package, rejects rate 0 and n > burst; the queue layer keeps its own so that it depends on
nothing above it. `RedisTokenBucket` (`redis_limiter.py`) is the same algorithm shared across
processes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["LocalTokenBucket"]


class LocalTokenBucket:
    """`Limiter` for one process: `rate` per second (0 = unlimited), `burst` saved up at most
    (default: one second's worth, at least 1)."""

    def __init__(
        self, rate: float, burst: float | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate < 0:
            raise ValueError("rate must not be negative")
        self.rate = float(rate)
        self.burst = float(burst) if burst is not None else max(1.0, self.rate)
        if self.burst <= 0:
            raise ValueError("burst must be positive")
        self._clock = clock
        self._tokens = self.burst
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        if now > self._updated:
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now

    @property
    def available(self) -> float:
        """Tokens that can be taken now without waiting (negative while callers wait)."""
        if self.rate == 0:
            return float("inf")
        self._refill()
        return self._tokens

    async def acquire(self, n: int = 1) -> None:
        if n <= 0 or self.rate == 0:
            return
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
