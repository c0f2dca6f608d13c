"""Queries for the parts of concatenated MO messages (`mo_parts`), one group per message.

A group is keyed by (connection, sender, recipient, reference, total). Workers that receive
parts of one message at the same moment must not both miss the other's part: on PostgreSQL each
transaction takes a transaction-scoped advisory lock per group before it reads the group (in one
order, so two transactions cannot wait on each other); on SQLite the single writer already runs
one write transaction at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ARRAY, BigInteger, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.store.prepared import Prepared, PreparedQuery
from tidings.store.schema import mo_parts

GroupKey = tuple[str, str, str, int, int]
"""(connection, sender, recipient, reference, total)"""

_t = mo_parts
_KEY_COLUMNS = (_t.c.connection, _t.c.sender, _t.c.recipient, _t.c.reference, _t.c.total)
_KEY_NAMES = ("g_connection", "g_sender", "g_recipient", "g_reference", "g_total")
_IN_GROUP = and_(*(column == bindparam(name) for column, name in zip(_KEY_COLUMNS, _KEY_NAMES, strict=True)))

# Built once, run prepared (`tidings.store.prepared`): built per call, these statements took
# most of the serving process's time while long replies came in.
_GROUP_PARTS = PreparedQuery(
    select(_t.c.sequence, _t.c.data_coding, _t.c.payload, _t.c.smsc_message_id, _t.c.received_ms,
           _t.c.assembled_ms, _t.c.udh).where(_IN_GROUP).order_by(_t.c.sequence))
_INSERT_PART = Prepared(insert(_t).values({c.name: bindparam(c.name) for c in _t.c}))
_MARK_ASSEMBLED = Prepared(update(_t).where(_IN_GROUP).values(assembled_ms=bindparam("b_at")))
_DELETE_GROUP = Prepared(delete(_t).where(_IN_GROUP))
# PostgreSQL: every group of a flush locked, then read, in one statement each. The locks are
# taken in the order of the (sorted) array: unnest yields its elements in order, and the lock is
# taken as each row is produced. The read takes every part between the flush's senders and
# recipients on its connections, a superset of its groups that `parts_of_groups` sorts out.
_KEY = func.unnest(bindparam("keys", type_=ARRAY(BigInteger))).column_valued("key")
_ADVISORY_LOCKS = PreparedQuery(select(func.pg_advisory_xact_lock(_KEY)))
_PARTS_BETWEEN = PreparedQuery(
    select(*_KEY_COLUMNS, _t.c.sequence, _t.c.data_coding, _t.c.payload, _t.c.smsc_message_id, _t.c.received_ms,
           _t.c.assembled_ms, _t.c.udh)
    .where(_t.c.connection.in_(bindparam("connections", expanding=True)),
           _t.c.sender.in_(bindparam("senders", expanding=True)),
           _t.c.recipient.in_(bindparam("recipients", expanding=True)))
    .order_by(_t.c.sequence))


def _group(key: GroupKey) -> dict[str, Any]:
    return dict(zip(_KEY_NAMES, key, strict=True))


def advisory_key(key: GroupKey) -> int:
    """A signed 64-bit number for the group, the same in every process (unlike `hash()`)."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_groups(conn: AsyncConnection, keys: Iterable[GroupKey]) -> None:
    """Hold each group until the transaction ends (PostgreSQL; SQLite writes one at a time)."""
    if conn.dialect.name != "postgresql":
        return
    numbers = sorted({advisory_key(k) for k in keys})
    if numbers:
        await _ADVISORY_LOCKS.rows(conn, {"keys": numbers})


async def group_parts(conn: AsyncConnection, key: GroupKey) -> list[Any]:
    """The stored parts of one group, by sequence."""
    return await _GROUP_PARTS.rows(conn, _group(key))


async def parts_of_groups(conn: AsyncConnection, keys: Sequence[GroupKey]) -> dict[GroupKey, list[Any]]:
    """The stored parts of each group, by sequence: on PostgreSQL in one round trip, on SQLite
    (statements in the process, no round trips) one group at a time."""
    if conn.dialect.name != "postgresql":
        return {key: await group_parts(conn, key) for key in keys}
    found: dict[GroupKey, list[Any]] = {key: [] for key in keys}
    # Run with the plan PostgreSQL caches: on a new table it can be a generic plan made while the
    # table was small (the key searched by connection and recipient alone, 39 ms at 100,000
    # parts), until autovacuum's first ANALYZE replans it with the sender in the key search.
    # Planning each run instead cost long replies ~13 % more CPU for good (two statements more
    # per flush), for a trap that lasts a minute on a new database: docs/benchmarks.md, item 33.
    rows = await _PARTS_BETWEEN.rows(conn, {
        "connections": list({k[0] for k in keys}), "senders": list({k[1] for k in keys}),
        "recipients": list({k[2] for k in keys})})
    for row in rows:
        parts = found.get((row.connection, row.sender, row.recipient, row.reference, row.total))
        if parts is not None:
            parts.append(row)
    return found


async def insert_parts(conn: AsyncConnection, rows: Sequence[tuple[GroupKey, Any]]) -> None:
    """Insert parts, each (group, part) with the part's sequence, data_coding, payload,
    smsc_message_id, received_ms and udh (a binary part's header elements, or None)."""
    if rows:
        await _INSERT_PART.executemany(conn, [{
            **{column.name: value for column, value in zip(_KEY_COLUMNS, key, strict=True)},
            "sequence": row.sequence, "data_coding": row.data_coding, "payload": row.payload,
            "smsc_message_id": row.smsc_message_id, "received_ms": row.received_ms, "assembled_ms": None,
            "udh": row.udh,
        } for key, row in rows])


async def mark_assembled(conn: AsyncConnection, keys: Sequence[GroupKey], now: int) -> None:
    if keys:
        await _MARK_ASSEMBLED.executemany(conn, [{**_group(key), "b_at": now} for key in keys])


async def delete_groups(conn: AsyncConnection, keys: Sequence[GroupKey]) -> None:
    if keys:
        await _DELETE_GROUP.executemany(conn, [_group(key) for key in keys])


async def overdue_groups(conn: AsyncConnection, received_before: int, limit: int) -> list[GroupKey]:
    """Groups still waiting for parts with a part received before `received_before`."""
    query = (select(*_KEY_COLUMNS).distinct()
             .where(_t.c.assembled_ms.is_(None), _t.c.received_ms < received_before)
             .limit(limit))
    return [tuple(row) for row in await conn.execute(query)]  # type: ignore[misc]


async def purge_assembled(conn: AsyncConnection, assembled_before: int) -> int:
    """Forget the parts of messages stored before `assembled_before`; returns the rows deleted."""
    result = await conn.execute(delete(_t).where(_t.c.assembled_ms < assembled_before))
    return int(result.rowcount or 0)
