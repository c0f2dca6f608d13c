"""Route statistics shared through the database: each worker writes its own decayed counters
under its worker id and reads everyone else's (`route_stats`). Rows not refreshed for
`stale_half_lives` half-lives (a stopped worker) are dropped."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, insert, select

from tidings.routing.stats import Cell, RouteStats
from tidings.store.db import Database
from tidings.store.routing_schema import route_stats

__all__ = ["StatsSharer"]


class StatsSharer:
    def __init__(self, db: Database, worker: str | None = None, *, stale_half_lives: float = 5.0) -> None:
        self.db = db
        self.worker = worker or uuid.uuid4().hex
        self.stale_half_lives = stale_half_lives

    async def exchange(self, stats: RouteStats) -> None:
        now = stats.clock()
        stale = now - int(stats.half_life_ms * self.stale_half_lives)
        own = stats.own()
        t = route_stats
        async with self.db.write() as conn:
            await conn.execute(delete(t).where((t.c.worker == self.worker) | (t.c.at_ms < stale)))
            if own:
                await conn.execute(insert(t), [
                    {"worker": self.worker, "route": route, "destination": key, "delivered": c.delivered,
                     "failed": c.failed, "latency_sum_ms": c.latency_sum_ms, "latency_n": c.latency_n,
                     "at_ms": c.at_ms}
                    for (route, key), c in own.items()
                ])
            rows = list(await conn.execute(select(t).where(t.c.worker != self.worker)))
        stats.set_peers(
            (r.route, r.destination, Cell(r.delivered, r.failed, r.latency_sum_ms, r.latency_n, r.at_ms))
            for r in rows
        )
