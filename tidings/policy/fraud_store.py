"""Where the fraud guard keeps its counts: the `FraudStore` seam and its in-process version.

Three kinds of state, all keyed by strings the guard builds:

- sliding-window logs for rate limits: `take` records one hit in every window at once, or in
  none when any of them is full (a refused start costs no quota anywhere);
- bucketed counters (`add`, `total`, `forget`) for the pumping statistics: starts, successes, failures
  per prefix in buckets of a few seconds, summed over a window;
- blocks (`block`, `blocked_until`) with an expiry.

Time is always passed in (epoch ms from the guard's clock) so that tests drive it. The embedded
profile uses `LocalFraudStore`; the distributed one `RedisFraudStore` (`fraud_redis.py`), the same
semantics shared by every process.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["FraudStore", "LocalFraudStore", "Window"]

_SWEEP_EVERY = 10_000  # takes between two sweeps of idle keys


@dataclass(frozen=True)
class Window:
    """At most `limit` hits on `key` in any `window_ms`."""

    key: str
    limit: int
    window_ms: int


class FraudStore(Protocol):
    async def take(self, windows: Sequence[Window], now_ms: int) -> tuple[int, int]:
        """Record a hit in every window unless one is full. Returns (-1, 0) when recorded, else
        (index of the first full window, ms until it has room again)."""
        ...

    async def add(self, key: str, now_ms: int, bucket_ms: int, keep_ms: int) -> None:
        """Count one event at `now_ms` in the bucket of `bucket_ms` it falls in; buckets older
        than `keep_ms` may be forgotten."""
        ...

    async def total(self, key: str, since_ms: int, until_ms: int, bucket_ms: int) -> int:
        """The events counted in buckets starting in [since_ms, until_ms)."""
        ...

    async def forget(self, keys: Sequence[str]) -> None:
        """Drop these counters."""
        ...

    async def block(self, key: str, until_ms: int, now_ms: int) -> bool:
        """Block `key` until `until_ms`; False when it was already blocked (so that one process
        raises the alert)."""
        ...

    async def blocked_until(self, key: str, now_ms: int) -> int | None:
        """When the block on `key` ends, or None when it is not blocked."""
        ...


class LocalFraudStore:
    """`FraudStore` in this process's memory (the embedded profile, tests)."""

    def __init__(self) -> None:
        self._logs: dict[str, deque[int]] = {}
        self._windows: dict[str, int] = {}
        self._counters: dict[str, dict[int, int]] = {}
        self._keep: dict[str, int] = {}
        self._blocks: dict[str, int] = {}
        self._takes = 0

    async def take(self, windows: Sequence[Window], now_ms: int) -> tuple[int, int]:
        for index, window in enumerate(windows):
            log = self._log(window, now_ms)
            if len(log) >= window.limit:
                return index, max(1, log[0] + window.window_ms - now_ms) if log else window.window_ms
        for window in windows:
            self._log(window, now_ms).append(now_ms)
        self._takes += 1
        if self._takes % _SWEEP_EVERY == 0:
            self._sweep(now_ms)
        return -1, 0

    def _log(self, window: Window, now_ms: int) -> deque[int]:
        log = self._logs.get(window.key)
        if log is None:
            log = self._logs[window.key] = deque()
        self._windows[window.key] = window.window_ms
        while log and log[0] <= now_ms - window.window_ms:
            log.popleft()
        return log

    def _sweep(self, now_ms: int) -> None:
        for key in [k for k, log in self._logs.items() if not log or log[-1] <= now_ms - self._windows[k]]:
            del self._logs[key]
            del self._windows[key]
        for key in [k for k, b in self._counters.items() if not b or max(b) < now_ms - self._keep[k]]:
            del self._counters[key]
            del self._keep[key]
        for key in [k for k, until in self._blocks.items() if until <= now_ms]:
            del self._blocks[key]

    async def add(self, key: str, now_ms: int, bucket_ms: int, keep_ms: int) -> None:
        buckets = self._counters.setdefault(key, {})
        self._keep[key] = keep_ms + bucket_ms
        start = now_ms - now_ms % bucket_ms
        buckets[start] = buckets.get(start, 0) + 1
        for old in [b for b in buckets if b < now_ms - keep_ms - bucket_ms]:
            del buckets[old]

    async def total(self, key: str, since_ms: int, until_ms: int, bucket_ms: int) -> int:
        buckets = self._counters.get(key, {})
        return sum(n for start, n in buckets.items() if since_ms <= start < until_ms)

    async def forget(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._counters.pop(key, None)
            self._keep.pop(key, None)

    async def block(self, key: str, until_ms: int, now_ms: int) -> bool:
        current = self._blocks.get(key)
        if current is not None and current > now_ms:
            return False
        self._blocks[key] = until_ms
        return True

    async def blocked_until(self, key: str, now_ms: int) -> int | None:
        until = self._blocks.get(key)
        if until is None or until <= now_ms:
            return None
        return until
