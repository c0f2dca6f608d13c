"""Queries for the parts of concatenated submit_sm (`smpp_submit_parts`), one group per message.

A group is keyed by (system_id, source, destination, reference, total). Gateway processes that
store parts of one message at the same moment must not both miss the other's part: on
PostgreSQL a write transaction takes the group's advisory lock before it reads the group (the
same locks as `mo_parts`); on SQLite the single writer runs one write transaction at a time.

A group's rows carry `sent_ms` once the message is claimed for sending. It counts as sent when
its batch (`batches.id` = the rows' `message_id`) exists.
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
    "delete_parts",
    "group_parts",
    "insert_part",
    "key_of",
    "lock_groups",
    "mark_sent",
    "overdue_groups",
    "sent_groups",
    "unsent_claims",
    "waiting",
]

GroupKey = tuple[str, str, str, int, int]
"""(system_id, source, destination, reference, total)"""

_t = smpp_submit_parts
_KEY_COLUMNS = (_t.c.system_id, _t.c.source, _t.c.destination, _t.c.reference, _t.c.total)


def _in_group(key: GroupKey) -> Any:
    return and_(*(column == value for column, value in zip(_KEY_COLUMNS, key, strict=True)))


def key_of(row: Any) -> GroupKey:
    return (row.system_id, row.source, row.destination, row.reference, row.total)


async def group_parts(conn: AsyncConnection, key: GroupKey) -> list[Any]:
    """The stored parts of one group, by sequence."""
    return list(await conn.execute(select(_t).where(_in_group(key)).order_by(_t.c.sequence)))


async def insert_part(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(insert(_t).values(row))


async def delete_parts(conn: AsyncConnection, key: GroupKey, sequence: int | None = None) -> None:
    """Delete a group's rows (those of one sequence only, when given)."""
    where = _in_group(key) if sequence is None else and_(_in_group(key), _t.c.sequence == sequence)
    await conn.execute(delete(_t).where(where))


async def mark_sent(conn: AsyncConnection, key: GroupKey, now: int) -> None:
    await conn.execute(update(_t).where(_in_group(key)).values(sent_ms=now))


async def overdue_groups(conn: AsyncConnection, received_before: int, limit: int) -> list[GroupKey]:
    """Groups not claimed for sending whose newest part came before `received_before`."""
    newest = (select(*_KEY_COLUMNS).where(_t.c.sent_ms.is_(None)).group_by(*_KEY_COLUMNS)
              .having(func.max(_t.c.received_ms) < received_before).limit(limit))
    return [key_of(row) for row in await conn.execute(newest)]


async def unsent_claims(conn: AsyncConnection, claimed_before: int, limit: int) -> list[GroupKey]:
    """Groups claimed for sending before `claimed_before` that have no batch: the process that
    claimed them stopped before its send was committed."""
    query = (select(*_KEY_COLUMNS).distinct()
             .select_from(_t.outerjoin(batches, batches.c.id == _t.c.message_id))
             .where(_t.c.sent_ms < claimed_before, batches.c.id.is_(None))
             .limit(limit))
    return [key_of(row) for row in await conn.execute(query)]


async def sent_groups(conn: AsyncConnection, sent_before: int, limit: int) -> list[GroupKey]:
    """Groups of messages sent (their batch exists) before `sent_before`."""
    query = (select(*_KEY_COLUMNS).distinct()
             .select_from(_t.join(batches, batches.c.id == _t.c.message_id))
             .where(_t.c.sent_ms < sent_before).limit(limit))
    return [key_of(row) for row in await conn.execute(query)]


async def waiting(conn: AsyncConnection, system_id: str, message_id: str) -> bool:
    """Whether `message_id` names a message of `system_id` whose parts are stored, not yet sent."""
    row = (await conn.execute(
        select(_t.c.sequence).where(_t.c.message_id == message_id, _t.c.system_id == system_id).limit(1)
    )).first()
    return row is not None
