"""Live route quality: delivery rate and latency per route x destination, learned from receipts.

Each worker keeps exponentially decayed counters in memory (`RouteStats`): every outcome adds one
to `delivered` or `failed` (and its latency to the latency sums), and every counter halves each
`half_life_s`. The total weight is also capped at `max_weight`, so a route that was good for
hours still shows a collapse within a few dozen messages. Workers share what they learned through
the database (`tidings.routing.persist`): each writes its own counters and reads the others' as
`peers`, which count alongside its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["Cell", "Quality", "RouteStats"]

PRIOR_RATE = 0.9
"""The delivery rate assumed for a route nobody has measured yet."""
PRIOR_WEIGHT = 2.0


@dataclass(slots=True)
class Cell:
    delivered: float = 0.0
    failed: float = 0.0
    latency_sum_ms: float = 0.0
    latency_n: float = 0.0
    at_ms: int = 0

    def decayed(self, now_ms: int, half_life_ms: float) -> Cell:
        if now_ms <= self.at_ms or half_life_ms <= 0:
            return Cell(self.delivered, self.failed, self.latency_sum_ms, self.latency_n, max(now_ms, self.at_ms))
        f = 0.5 ** ((now_ms - self.at_ms) / half_life_ms)
        return Cell(self.delivered * f, self.failed * f, self.latency_sum_ms * f, self.latency_n * f, now_ms)


@dataclass(frozen=True, slots=True)
class Quality:
    """What is known of a route to a destination: decayed outcome counts and mean latency."""

    delivered: float
    failed: float
    latency_ms: float | None

    @property
    def samples(self) -> float:
        return self.delivered + self.failed

    @property
    def delivery_rate(self) -> float:
        """Smoothed towards PRIOR_RATE while few outcomes are known."""
        return (self.delivered + PRIOR_RATE * PRIOR_WEIGHT) / (self.samples + PRIOR_WEIGHT)


class RouteStats:
    def __init__(self, clock: Callable[[], int], *, half_life_s: float = 600.0, max_weight: float = 20.0) -> None:
        self.clock = clock
        self.half_life_ms = half_life_s * 1000
        self.max_weight = max_weight
        self._cells: dict[tuple[str, str], Cell] = {}
        self._peers: dict[tuple[str, str], Cell] = {}
        self._unhealthy: set[tuple[str, str]] = set()

    def judge_health(self, route: str, key: str, quality: Quality, min_samples: float, min_rate: float,
                     recovery_margin: float) -> bool:
        """Whether the route is healthy for `key`: not measured below `min_rate` over
        `min_samples` outcomes — or, once found unhealthy, not until its rate is back to
        `min_rate + recovery_margin` (remembered here)."""
        cell = (route, key)
        threshold = min_rate + recovery_margin if cell in self._unhealthy else min_rate
        healthy = not (quality.samples >= min_samples and quality.delivery_rate < threshold)
        if healthy:
            self._unhealthy.discard(cell)
        else:
            self._unhealthy.add(cell)
        return healthy

    def record(self, route: str, key: str, delivered: bool, latency_ms: int | None = None) -> None:
        now = self.clock()
        cell = self._cells.get((route, key))
        cell = cell.decayed(now, self.half_life_ms) if cell is not None else Cell(at_ms=now)
        if delivered:
            cell.delivered += 1
        else:
            cell.failed += 1
        if latency_ms is not None:
            cell.latency_sum_ms += max(0, latency_ms)
            cell.latency_n += 1
        total = cell.delivered + cell.failed
        if total > self.max_weight:
            scale = self.max_weight / total
            cell.delivered *= scale
            cell.failed *= scale
            cell.latency_sum_ms *= scale
            cell.latency_n *= scale
        self._cells[(route, key)] = cell

    def quality(self, route: str, key: str) -> Quality:
        now = self.clock()
        delivered = failed = lat_sum = lat_n = 0.0
        for source in (self._cells, self._peers):
            cell = source.get((route, key))
            if cell is not None:
                c = cell.decayed(now, self.half_life_ms)
                delivered += c.delivered
                failed += c.failed
                lat_sum += c.latency_sum_ms
                lat_n += c.latency_n
        total = delivered + failed
        if total > self.max_weight:  # own and peers' together stay within the cap
            delivered, failed = delivered * self.max_weight / total, failed * self.max_weight / total
        return Quality(delivered, failed, lat_sum / lat_n if lat_n > 0 else None)

    def own(self) -> dict[tuple[str, str], Cell]:
        """This worker's counters, decayed to now (what it shares)."""
        now = self.clock()
        return {k: c.decayed(now, self.half_life_ms) for k, c in self._cells.items()}

    def load_own(self, cells: Iterable[tuple[str, str, Cell]]) -> None:
        """Counters this worker wrote before a restart."""
        for route, key, cell in cells:
            self._cells[(route, key)] = cell

    def set_peers(self, cells: Iterable[tuple[str, str, Cell]]) -> None:
        """Replace what other workers learned (summed per route and destination)."""
        now = self.clock()
        peers: dict[tuple[str, str], Cell] = {}
        for route, key, cell in cells:
            c = cell.decayed(now, self.half_life_ms)
            total = peers.setdefault((route, key), Cell(at_ms=now))
            total.delivered += c.delivered
            total.failed += c.failed
            total.latency_sum_ms += c.latency_sum_ms
            total.latency_n += c.latency_n
        self._peers = peers
