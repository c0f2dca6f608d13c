"""Queries of SMS routing: the cost recorded for each dispatched delivery."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.store.routing_schema import delivery_costs

if TYPE_CHECKING:
    from tidings.workers.events import Dispatched

__all__ = ["costs_of", "record_costs"]


async def record_costs(conn: AsyncConnection, dispatched: Sequence[Dispatched]) -> None:
    """One cost per delivery: a delivery sent again (after a lost claim) keeps its latest cost."""
    rows: dict[int, dict[str, Any]] = {}
    for e in dispatched:
        assert e.cost is not None
        rows[e.delivery_id] = {"delivery_id": e.delivery_id, "route": e.connection, "amount": e.cost[0],
                               "currency": e.cost[1], "parts": len(e.smsc_ids), "recorded_ms": e.at_ms}
    if rows:
        await conn.execute(delete(delivery_costs).where(delivery_costs.c.delivery_id.in_(list(rows))))
        await conn.execute(insert(delivery_costs), list(rows.values()))


async def costs_of(conn: AsyncConnection, delivery_ids: Sequence[int]) -> dict[int, Any]:
    if not delivery_ids:
        return {}
    c = delivery_costs
    query = select(c).where(c.c.delivery_id.in_(list(delivery_ids)))
    return {r.delivery_id: r for r in await conn.execute(query)}
