"""Message retention: SMS batches and inbound messages deleted once older than the retention period.

A batch goes with everything recorded about its messages — its deliveries, their SMPP submissions
and costs, its SMPP gateway addressing row — once it was created before the cutoff, its
`expire_at` is before the cutoff too, none of its deliveries is still Queued and its groups do not
wait to be expanded (`expand_groups_ms`): a message that may still be sent is never deleted,
whatever its age. (A delivery left Dispatched that long will
never get its receipt: the sweeper made it Unknown an hour after its expiry.) Inbound messages go by the time
they were received; verifications by their expiry (past it, one can no longer change), oldest
first on `ix_verifications_expires`.

Batch and inbound ids are ULIDs, whose leading characters are their creation time in
milliseconds, so the oldest rows are found on the primary key in id order, without an index of
their own. Deletion works a chunk at a time, each chunk its own short write transaction, so that
on SQLite the writers of the live traffic wait for one chunk at most.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Column, Table, delete, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import Exists

from tidings.core.ids import ulid_floor
from tidings.core.statuses import Status
from tidings.store.gateway_schema import smpp_batches
from tidings.store.routing_schema import delivery_costs
from tidings.store.schema import batches, deliveries, inbounds, submissions
from tidings.store.verify_schema import verifications

__all__ = ["delete_batches", "delete_inbounds", "delete_oldest_before", "delete_verifications", "expired_batches"]

_b, _d = batches.c, deliveries.c


async def expired_batches(conn: AsyncConnection, cutoff_ms: int, after_id: str, limit: int) -> list[tuple[str, int]]:
    """(batch id, recipient count) of up to `limit` batches created and expired before the cutoff,
    in id order after `after_id` ("" to start). A range of the primary key: whether a delivery is
    still Queued is left to `delete_batches`, which reads a chunk's deliveries only."""
    query = (
        select(_b.id, _b.recipient_count)
        .where(_b.id > after_id, _b.id < ulid_floor(cutoff_ms), _b.expire_at_ms < cutoff_ms,
               _b.expand_groups_ms.is_(None))
        .order_by(_b.id)
        .limit(limit)
    )
    return [(row.id, row.recipient_count) for row in await conn.execute(query)]


async def delete_batches(conn: AsyncConnection, batch_ids: Sequence[str], cutoff_ms: int) -> tuple[int, int]:
    """Delete those of these batches none of whose deliveries is Queued and whose groups do not
    wait to be expanded, and their messages' records; returns (batches, deliveries) deleted."""
    if not batch_ids:
        return 0, 0
    still = [row.id for row in await conn.execute(
        select(_b.id).where(_b.id.in_(list(batch_ids)), _b.expire_at_ms < cutoff_ms, _b.expand_groups_ms.is_(None),
                            ~_still_queued()))]
    if not still:
        return 0, 0
    of_batches = select(_d.id).where(_d.batch_id.in_(still)).scalar_subquery()
    await conn.execute(delete(submissions).where(submissions.c.delivery_id.in_(of_batches)))
    await conn.execute(delete(delivery_costs).where(delivery_costs.c.delivery_id.in_(of_batches)))
    gone = await conn.execute(delete(deliveries).where(_d.batch_id.in_(still)))
    await conn.execute(delete(smpp_batches).where(smpp_batches.c.batch_id.in_(still)))
    await conn.execute(delete(batches).where(_b.id.in_(still)))
    return len(still), int(gone.rowcount or 0)


async def delete_inbounds(conn: AsyncConnection, cutoff_ms: int, limit: int) -> int:
    """Delete up to `limit` of the oldest inbound messages received before the cutoff."""
    oldest = select(inbounds.c.id).where(inbounds.c.id < ulid_floor(cutoff_ms)).order_by(inbounds.c.id).limit(limit)
    ids = [row.id for row in await conn.execute(oldest)]
    if ids:
        await conn.execute(delete(inbounds).where(inbounds.c.id.in_(ids)))
    return len(ids)


async def delete_verifications(conn: AsyncConnection, cutoff_ms: int, limit: int) -> int:
    """Delete up to `limit` of the verifications that expired before the cutoff, oldest first."""
    oldest = (select(verifications.c.id).where(verifications.c.expires_ms < cutoff_ms)
              .order_by(verifications.c.expires_ms).limit(limit))
    ids = [row.id for row in await conn.execute(oldest)]
    if ids:
        await conn.execute(delete(verifications).where(verifications.c.id.in_(ids)))
    return len(ids)


async def delete_oldest_before(conn: AsyncConnection, table: Table, id_column: Column[int], time_column: Column[int],
                               before_ms: int, limit: int) -> int:
    """Delete the rows whose `time_column` is before `before_ms` among the `limit` oldest by
    `id_column`; how many (`limit` only when every one of them was old, so that more may be).
    For tables whose autoincrement ids go in about the order of their times: this reads at most
    `limit` rows, where a search by time would need an index of its own on every insert."""
    oldest = (await conn.execute(select(id_column, time_column).order_by(id_column).limit(limit))).all()
    old = [row[0] for row in oldest if row[1] < before_ms]
    if old:
        await conn.execute(delete(table).where(id_column.in_(old)))
    return len(old)


def _still_queued() -> Exists:
    return exists().where(_d.batch_id == _b.id, _d.status == Status.QUEUED.value)
