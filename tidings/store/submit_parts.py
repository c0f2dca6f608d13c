"""Queries for the parts of concatenated submit_sm (`smpp_submit_parts`), one message per
`message_id`.

The parts of the message still waiting for the rest are found by its key (system_id, source,
destination, reference, total). Gateway processes storing parts of one message at the same
moment must not both miss the other's part: on PostgreSQL a write transaction takes the key's
advisory lock before it reads (the same locks as `mo_parts`); on SQLite the single writer runs
one write transaction at a time.

A message's rows carry `claimed_ms` once it is claimed for sending; it is sent when its batch
(`batches.id` = `message_id`) exists, and its rows can go.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.store.gateway_schema import smpp_submit_parts
from tidings.store.mo_parts import lock_groups
from tidings.store.schema import batches

__all__ = [
    "GroupKey",
    "claim",
    "claimed_unsent",
    "delete_message",
    "delete_waiting",
    "delete_part",
    "insert_part",
    "lock_groups",
    "message_parts",
    "overdue",
    "sent",
    "waiting",
    "waiting_parts",
]

GroupKey = tuple[str, str, str, int, int]
"""(system_id, source, destination, reference, total)"""

_t = smpp_submit_parts
_KEY_COLUMNS = (_t.c.system_id, _t.c.source, _t.c.destination, _t.c.reference, _t.c.total)


async def waiting_parts(conn: AsyncConnection, key: GroupKey) -> list[Any]:
    """The stored parts of the message under `key` not yet claimed, by sequence."""
    in_group = and_(*(column == value for column, value in zip(_KEY_COLUMNS, key, strict=True)))
    query = select(_t).where(in_group, _t.c.claimed_ms.is_(None)).order_by(_t.c.sequence)
    return list(await conn.execute(query))


async def message_parts(conn: AsyncConnection, message_id: str) -> list[Any]:
    """Every stored part of a message, by sequence."""
    return list(await conn.execute(select(_t).where(_t.c.message_id == message_id).order_by(_t.c.sequence)))


async def insert_part(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(insert(_t).values(row))


async def delete_part(conn: AsyncConnection, message_id: str, sequence: int) -> None:
    await conn.execute(delete(_t).where(_t.c.message_id == message_id, _t.c.sequence == sequence))


async def delete_message(conn: AsyncConnection, message_id: str) -> None:
    await conn.execute(delete(_t).where(_t.c.message_id == message_id))


async def delete_waiting(conn: AsyncConnection, system_id: str, message_id: str) -> int:
    """Delete the parts of a message of `system_id` not yet claimed (cancelled before its last
    part came); how many were deleted."""
    result = await conn.execute(delete(_t).where(_t.c.message_id == message_id, _t.c.system_id == system_id,
                                                 _t.c.claimed_ms.is_(None)))
    return int(result.rowcount or 0)


async def claim(conn: AsyncConnection, message_id: str, now: int) -> None:
    await conn.execute(update(_t).where(_t.c.message_id == message_id).values(claimed_ms=now))


async def overdue(conn: AsyncConnection, received_before: int, limit: int) -> list[str]:
    """Messages not claimed whose newest part came before `received_before`."""
    query = (select(_t.c.message_id).where(_t.c.claimed_ms.is_(None)).group_by(_t.c.message_id)
             .having(func.max(_t.c.received_ms) < received_before).limit(limit))
    return list(await conn.scalars(query))


async def claimed_unsent(conn: AsyncConnection, claimed_before: int, limit: int) -> list[str]:
    """Messages claimed before `claimed_before` that have no batch: the process that claimed
    them stopped before its send was committed."""
    query = (select(_t.c.message_id).distinct()
             .select_from(_t.outerjoin(batches, batches.c.id == _t.c.message_id))
             .where(_t.c.claimed_ms < claimed_before, batches.c.id.is_(None))
             .limit(limit))
    return list(await conn.scalars(query))


async def sent(conn: AsyncConnection, limit: int) -> list[str]:
    """Claimed messages whose batch exists: their parts are no longer needed."""
    query = (select(_t.c.message_id).distinct()
             .select_from(_t.join(batches, batches.c.id == _t.c.message_id))
             .where(_t.c.claimed_ms.is_not(None)).limit(limit))
    return list(await conn.scalars(query))


async def waiting(conn: AsyncConnection, system_id: str, message_id: str) -> bool:
    """Whether `message_id` names a message of `system_id` whose parts are stored, not yet sent."""
    row = (await conn.execute(
        select(_t.c.sequence).where(_t.c.message_id == message_id, _t.c.system_id == system_id).limit(1)
    )).first()
    return row is not None
