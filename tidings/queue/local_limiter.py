"""The embedded profile's throughput cap: an in-process two-level token bucket (`Limiter`).

`rate` tokens per second accrue up to `burst`. A caller that finds enough tokens and nobody
waiting ahead of it takes them at once. Otherwise it joins one of two waiting lines, priority
(verification codes) or bulk, and one timer serves the lines: the head of the priority line
first, the bulk line only while no priority caller waits. So a verification code overtakes
every bulk message already waiting on a capped connection and waits at most for the tokens it
needs itself, while the rate still holds for the sum of both.

A head waiter is served once the balance covers `min(n, burst)`; it then takes all `n`. When
`n > burst` (a long SMS may need more parts than the burst) that leaves the balance negative and
the caller returns once the debt is paid back, as does everyone behind it. Callers of one line are served in arrival
order. A cancelled waiter leaves its line and takes nothing. `rate == 0` means unlimited.

`tidings.smpp.throttle.TokenBucket` is the SMPP protocol package's own single-line bucket;
`RedisTokenBucket` (`redis_limiter.py`) shares a cap across processes with a priority lane.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

__all__ = ["LocalTokenBucket"]

_EPSILON = 1e-9


class _Waiter:
    __slots__ = ("future", "granted", "n")

    def __init__(self, n: int, future: asyncio.Future[None]) -> None:
        self.n = n
        self.future = future
        self.granted = False  # its tokens are taken (it may still sleep off a debt)


class LocalTokenBucket:
    """`Limiter` for one process: `rate` per second (0 = unlimited), `burst` saved up at most
    (default: one second's worth, at least 1); priority callers are served first."""

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
        self._lines: tuple[deque[_Waiter], deque[_Waiter]] = (deque(), deque())  # priority, bulk
        self._waiting = 0  # tokens asked for by everyone in the lines
        self._timer: asyncio.TimerHandle | None = None

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
        return self._tokens - self._waiting

    @property
    def waiting(self) -> tuple[int, int]:
        """(priority, bulk) callers waiting."""
        return len(self._lines[0]), len(self._lines[1])

    def _covers(self, n: int) -> bool:
        return self._tokens + _EPSILON >= min(n, self.burst)

    async def acquire(self, n: int = 1, *, priority: bool = False) -> None:
        if n <= 0 or self.rate == 0:
            return
        self._refill()
        ahead = self._lines[0] if priority else (self._lines[0] or self._lines[1])
        if not ahead and self._covers(n):
            self._tokens -= n
            return
        waiter = _Waiter(n, asyncio.get_running_loop().create_future())
        self._lines[0 if priority else 1].append(waiter)
        self._waiting += n
        self._schedule()
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter.granted:
                # Served (or sleeping off its debt) when it was cancelled: give the tokens back.
                self._refill()
                self._tokens = min(self.burst, self._tokens + n)
            else:
                self._remove(waiter)
            self._schedule()
            raise

    def _remove(self, waiter: _Waiter) -> None:
        for line in self._lines:
            try:
                line.remove(waiter)
            except ValueError:
                continue
            self._waiting -= waiter.n
            return

    def _head(self) -> tuple[deque[_Waiter], _Waiter] | None:
        for line in self._lines:
            while line and line[0].future.done():  # cancelled before its turn
                self._waiting -= line.popleft().n
            if line:
                return line, line[0]
        return None

    def _schedule(self) -> None:
        """Serve every head the balance covers, then set one timer for the next head."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._refill()
        while (head := self._head()) is not None:
            line, waiter = head
            if not self._covers(waiter.n):
                delay = (min(waiter.n, self.burst) - self._tokens) / self.rate
                self._timer = asyncio.get_running_loop().call_later(max(0.0, delay), self._on_timer)
                return
            line.popleft()
            self._waiting -= waiter.n
            self._tokens -= waiter.n
            waiter.granted = True
            if self._tokens < 0:
                asyncio.get_running_loop().call_later(-self._tokens / self.rate, _release, waiter)
            else:
                waiter.future.set_result(None)

    def _on_timer(self) -> None:
        self._timer = None
        self._schedule()


def _release(waiter: _Waiter) -> None:
    if not waiter.future.done():
        waiter.future.set_result(None)
