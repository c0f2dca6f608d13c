"""Queries behind the XMS batches endpoints: read a project's batches and their recipients,
and the guarded writes of cancel, replace and update (only still-unsent deliveries change).

A delivery is *taken* once a worker has claimed it for sending (`claimed_ms`, which stays set
once it was dispatched) or it has any status but Queued and those a message gets without ever
being sent (Aborted for too many parts at acceptance, Expired before its group was expanded).
A batch with a taken delivery was dispatched: it can no longer be updated or replaced."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Row,
    Table,
    and_,
    bindparam,
    delete,
    false,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.core.statuses import Code, Status
from tidings.store.schema import batches, deliveries

b = batches
d = deliveries
QUEUED = Status.QUEUED.value
# Final statuses a delivery may get at acceptance (or group expansion), never sent.
SETTLED_UNSENT = (Status.ABORTED.value, Status.EXPIRED.value)

# Still to be sent, no worker has taken it yet: the only kind a change of content or schedule touches.
UNSENT = and_(d.c.status == QUEUED, d.c.claimed_ms.is_(None))
# Not taken: still to be sent, or settled without ever being sent (what a replace or to_remove deletes).
NOT_TAKEN = and_(d.c.claimed_ms.is_(None), d.c.status.in_((QUEUED, *SETTLED_UNSENT)))


def is_taken(status: str, claimed_ms: int | None) -> bool:
    """The Python side of `NOT_TAKEN`, for rows of `delivery_states`."""
    return claimed_ms is not None or (status != QUEUED and status not in SETTLED_UNSENT)


@dataclass(frozen=True)
class BatchFilter:
    senders: Sequence[str] | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    client_reference: str | None = None


async def get(conn: AsyncConnection, project_id: str, batch_id: str, *,
              for_update: bool = False) -> Row[Any] | None:
    """The project's batch; `for_update`: locked until the transaction ends (PostgreSQL; SQLite
    has one writer at a time), so a change waits for an expansion of its groups under way."""
    query = select(b).where(b.c.id == batch_id, b.c.project_id == project_id)
    if for_update:
        query = query.with_for_update()
    return (await conn.execute(query)).first()


async def by_idempotency_key(conn: AsyncConnection, project_id: str, key: str) -> Row[Any] | None:
    result = await conn.execute(select(b).where(b.c.project_id == project_id, b.c.idempotency_key == key))
    return result.first()


async def recipients(conn: AsyncConnection, batch_ids: Sequence[str]) -> dict[str, list[str]]:
    """Each batch's recipients, in the order they were added."""
    out: dict[str, list[str]] = {i: [] for i in batch_ids}
    if not batch_ids:
        return out
    rows = await conn.execute(
        select(d.c.batch_id, d.c.recipient).where(d.c.batch_id.in_(batch_ids)).order_by(d.c.id)
    )
    for batch_id, recipient in rows:
        out[batch_id].append(recipient)
    return out


async def record_feedback(
    conn: AsyncConnection, batch_id: str, recipients: Sequence[str] | None, now: int
) -> list[str | None]:
    """Mark these recipients of the batch (None: all of them) as confirmed by the customer, each
    once; returns the connection (route) of every delivery marked now."""
    query = update(d).where(d.c.batch_id == batch_id, d.c.feedback_ms.is_(None))
    if recipients is not None:
        query = query.where(d.c.recipient.in_(list(recipients)))
    result = await conn.execute(query.values(feedback_ms=now).returning(d.c.connection))
    return [row[0] for row in result]


async def list_page(
    conn: AsyncConnection, project_id: str, f: BatchFilter, page: int, page_size: int
) -> tuple[int, list[Row[Any]]]:
    """(total matching, this page's rows), newest first."""
    where = [b.c.project_id == project_id]
    if f.senders:
        where.append(b.c.sender.in_(f.senders))
    if f.start_ms is not None:
        where.append(b.c.created_ms >= f.start_ms)
    if f.end_ms is not None:
        where.append(b.c.created_ms < f.end_ms)
    if f.client_reference is not None:
        where.append(b.c.client_reference == f.client_reference)
    count = (await conn.execute(select(func.count()).select_from(b).where(*where))).scalar_one()
    rows = await conn.execute(
        select(b).where(*where).order_by(b.c.created_ms.desc(), b.c.id.desc())
        .limit(page_size).offset(page * page_size)
    )
    return int(count), list(rows)


async def delivery_states(conn: AsyncConnection, batch_id: str) -> list[Row[Any, Any, Any, Any]]:
    result = await conn.execute(
        select(d.c.id, d.c.recipient, d.c.status, d.c.claimed_ms).where(d.c.batch_id == batch_id).order_by(d.c.id)
    )
    return list(result)


async def cancel_unsent(conn: AsyncConnection, batch_id: str, now: int) -> list[Row[Any]]:
    """Mark the batch canceled, and its groups never to be expanded; its unsent deliveries become
    Cancelled (407). Returns those."""
    await conn.execute(update(b).where(b.c.id == batch_id).values(canceled=True, modified_ms=now,
                                                                  expand_groups_ms=None))
    result = await conn.execute(
        update(d)
        .where(d.c.batch_id == batch_id, UNSENT)
        .values(status=Status.CANCELLED.value, code=Code.CANCELLED, status_ms=now)
        .returning(d.c.id, d.c.batch_id, d.c.recipient)
    )
    return list(result)


async def insert_rows(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Rows of a batch's own tables (the batch row, rows that belong with it)."""
    if rows:
        await conn.execute(insert(table), list(rows))


async def settle_unsent(conn: AsyncConnection, ids: Sequence[int], status: Status, code: int,
                        now: int) -> list[Row[Any]]:
    """Give these deliveries, where still unsent, a final status without sending them; returns
    (id, recipient) of those changed."""
    if not ids:
        return []
    result = await conn.execute(
        update(d).where(d.c.id.in_(list(ids)), UNSENT)
        .values(status=status.value, code=code, status_ms=now)
        .returning(d.c.id, d.c.recipient)
    )
    return list(result)


async def delete_not_taken(conn: AsyncConnection, batch_id: str, recipients: Sequence[str] | None = None) -> int:
    """Remove deliveries not taken (all of the batch's, or those of `recipients`): still to be
    sent, or settled without sending. Returns how many."""
    query = delete(d).where(d.c.batch_id == batch_id, NOT_TAKEN)
    if recipients is not None:
        query = query.where(d.c.recipient.in_(recipients))
    result = await conn.execute(query)
    return int(result.rowcount or 0)


async def count_deliveries(conn: AsyncConnection, batch_id: str) -> int:
    result = await conn.execute(select(func.count()).select_from(d).where(d.c.batch_id == batch_id))
    return int(result.scalar_one())


async def update_batch(conn: AsyncConnection, batch_id: str, values: dict[str, Any]) -> None:
    await conn.execute(update(b).where(b.c.id == batch_id).values(**values))


async def insert_deliveries(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> list[int]:
    if not rows:
        return []
    result = await conn.execute(insert(d).returning(d.c.id, sort_by_parameter_order=True), list(rows))
    return [r[0] for r in result]


async def reschedule_unsent(
    conn: AsyncConnection, batch_id: str, due_ms: int, published_ms: int | None
) -> list[int]:
    """New due time for unsent deliveries; returns their ids."""
    result = await conn.execute(
        update(d).where(d.c.batch_id == batch_id, UNSENT)
        .values(due_ms=due_ms, published_ms=published_ms).returning(d.c.id)
    )
    return [r[0] for r in result]


async def set_segments(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """rows: b_id, b_encoding, b_segments — only for still-unsent deliveries."""
    if rows:
        await conn.execute(
            update(d).where(d.c.id == bindparam("b_id"), UNSENT)
            .values(encoding=bindparam("b_encoding"), segments=bindparam("b_segments")),
            list(rows),
        )


async def groups_due(conn: AsyncConnection, now: int, limit: int) -> list[str]:
    """Batches whose groups wait to be expanded and are due, the longest waiting first (on the
    partial index of waiting batches)."""
    query = (
        select(b.c.id)
        .where(b.c.expand_groups_ms.is_not(None), b.c.expand_groups_ms <= now)
        .order_by(b.c.expand_groups_ms)
        .limit(limit)
    )
    return [r[0] for r in await conn.execute(query)]


async def postpone_group_expansion(conn: AsyncConnection, batch_id: str, now: int, until: int) -> None:
    """Move a due expansion that failed to `until`, so that the batches behind it go first."""
    await conn.execute(
        update(b)
        .where(b.c.id == batch_id, b.c.expand_groups_ms.is_not(None), b.c.expand_groups_ms <= now)
        .values(expand_groups_ms=until)
    )


async def take_group_expansion(conn: AsyncConnection, batch_id: str, now: int) -> Row[Any] | None:
    """Clear the batch's expansion mark if it is still set and due, and return the batch row;
    None when it is not (already expanded, cancelled, rescheduled). The update is the claim: on
    PostgreSQL a second transaction trying it waits for the row lock, then finds the mark gone."""
    result = await conn.execute(
        update(b)
        .where(b.c.id == batch_id, b.c.expand_groups_ms.is_not(None), b.c.expand_groups_ms <= now,
               b.c.canceled == false())
        .values(expand_groups_ms=None)
        .returning(*b.c)
    )
    return result.first()
