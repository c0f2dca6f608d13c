"""Queries of the receipt side: SMSC message ids, parts, orphans, and the delivery rows they move."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Row,
    bindparam,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.store.prepared import Prepared, PreparedQuery, planned_for_parameters
from tidings.store.schema import deliveries, orphan_receipts, receipt_inbox, submissions

s = submissions


def _insert_submission(dialect_insert: Any) -> Prepared:
    """`INSERT … ON CONFLICT (smsc_message_id, connection) DO UPDATE … WHERE` the row names
    another delivery. The same row again is left alone: a flush retried after its commit went
    through unseen (the connection dropped while COMMIT was answered) applies its events again,
    and a plain insert failed on the key at every retry, holding up every event behind it. A
    row of another delivery is the SMSC reusing a message id: the newer submission is recorded."""
    statement = dialect_insert(s).values({c.name: bindparam(c.name) for c in s.c})
    replaced = ("delivery_id", "part", "parts", "status", "code", "submitted_ms")
    return Prepared(statement.on_conflict_do_update(
        index_elements=[s.c.smsc_message_id, s.c.connection],
        set_={name: statement.excluded[name] for name in replaced},
        where=s.c.delivery_id != statement.excluded.delivery_id,
    ))


_INSERT_SUBMISSION = {"postgresql": _insert_submission(postgresql.insert), "sqlite": _insert_submission(sqlite.insert)}


async def insert_submissions(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Rows carry every column of `submissions`; recording a row again changes nothing."""
    await _INSERT_SUBMISSION[conn.dialect.name].executemany(conn, rows)


def by_connection(keys: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """(connection, smsc_message_id) keys as each connection's ids: a lookup runs as
    `connection = ? AND smsc_message_id IN (…)` per connection, which SQLite answers with the
    key (a row-value IN list made it scan the whole table)."""
    by_connection: dict[str, list[str]] = {}
    for connection, smsc_id in keys:
        by_connection.setdefault(connection, []).append(smsc_id)
    return by_connection


# Statements built once, with the id lists as expanding parameters: building an `in_()` over a
# few hundred values per call (coercing each, then a cache key) cost more loop time than the
# statement itself.
_FIND_SUBMISSIONS = PreparedQuery(select(s).where(
    s.c.connection == bindparam("b_connection"), s.c.smsc_message_id.in_(bindparam("b_ids", expanding=True))
))


async def find_submissions(
    conn: AsyncConnection, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Row[Any]]:
    found: dict[tuple[str, str], Row[Any]] = {}
    # Planned for the ids at hand: a generic plan made while `submissions` was small scanned it
    # as it grew (30 ms for 57 ids at 20,000 rows; tests/store/test_postgres_plans.py).
    async with planned_for_parameters(conn):
        for connection, ids in by_connection(keys).items():
            for r in await _FIND_SUBMISSIONS.rows(conn, {"b_connection": connection, "b_ids": ids}):
                found[(r.connection, r.smsc_message_id)] = r
    return found


_SET_PART = (
    update(s)
    .where(s.c.connection == bindparam("b_connection"), s.c.smsc_message_id == bindparam("b_id"))
    .values(status=bindparam("b_status"), code=bindparam("b_code"))
)


_SET_PART_PREPARED = Prepared(_SET_PART)


async def set_part_statuses(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    await _SET_PART_PREPARED.executemany(conn, rows)


_PARTS_OF = PreparedQuery(select(s).where(s.c.delivery_id.in_(bindparam("b_ids", expanding=True))))


async def parts_of(conn: AsyncConnection, delivery_ids: Sequence[int]) -> dict[int, list[Row[Any]]]:
    out: dict[int, list[Row[Any]]] = {}
    if delivery_ids:
        for row in await _PARTS_OF.rows(conn, {"b_ids": list(delivery_ids)}):
            out.setdefault(row.delivery_id, []).append(row)
    return out


async def load_deliveries(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Row[Any]]:
    """The rows, locked until commit on PostgreSQL (in id order, so lockers never deadlock);
    SQLite's single writer needs no lock."""
    if not ids:
        return {}
    return {r.id: r for r in await _LOAD_DELIVERIES.rows(conn, {"b_ids": sorted(ids)})}


_LOAD_DELIVERIES = PreparedQuery(
    select(deliveries.c.id, deliveries.c.batch_id, deliveries.c.recipient, deliveries.c.status,
           deliveries.c.code, deliveries.c.project_id, deliveries.c.encoding, deliveries.c.segments,
           deliveries.c.created_ms)
    .where(deliveries.c.id.in_(bindparam("b_ids", expanding=True)))
    .order_by(deliveries.c.id)
    .with_for_update()
)


async def match_orphans(conn: AsyncConnection, limit: int) -> list[Row[Any]]:
    """Orphan receipts whose submission now exists (recorded by a concurrent transaction). They
    stay until `delete_orphans` runs in the transaction that records them."""
    o = orphan_receipts
    query = (
        select(o)
        .select_from(o.join(s, (s.c.connection == o.c.connection)
                            & (s.c.smsc_message_id == o.c.smsc_message_id)))
        .order_by(o.c.id)
        .limit(limit)
    )
    return list(await conn.execute(query))


async def purge_orphans(conn: AsyncConnection, received_before: int) -> int:
    """Drop orphan receipts received before `received_before`; returns how many."""
    result = await conn.execute(delete(orphan_receipts).where(orphan_receipts.c.received_ms < received_before))
    return int(result.rowcount or 0)


async def delete_orphans(conn: AsyncConnection, ids: Sequence[int]) -> None:
    if ids:
        await conn.execute(delete(orphan_receipts).where(orphan_receipts.c.id.in_(ids)))


async def insert_orphans(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(orphan_receipts), list(rows))


_TAKE_ORPHANS = PreparedQuery(select(orphan_receipts).where(
    orphan_receipts.c.connection == bindparam("b_connection"),
    orphan_receipts.c.smsc_message_id.in_(bindparam("b_ids", expanding=True)),
))


async def take_orphans(conn: AsyncConnection, keys: Iterable[tuple[str, str]]) -> list[Row[Any]]:
    """Receipts that arrived before their submission was recorded; removed as they are taken."""
    o = orphan_receipts
    rows: list[Row[Any]] = []
    wanted = by_connection(keys)
    if not wanted:
        return rows
    async with planned_for_parameters(conn):  # as find_submissions: the table may have grown since
        for connection, ids in wanted.items():
            rows += await _TAKE_ORPHANS.rows(conn, {"b_connection": connection, "b_ids": ids})
    rows.sort(key=lambda r: r.id)
    if rows:
        await conn.execute(delete(o).where(o.c.id.in_([r.id for r in rows])))
    return rows


_STORE_IN_INBOX = insert(receipt_inbox).returning(receipt_inbox.c.id, sort_by_parameter_order=True)


async def store_in_inbox(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Write receipts not yet applied (connection, smsc_message_id, status, code, received_ms);
    returns their ids, in the order given."""
    if not rows:
        return []
    return [r[0] for r in await conn.execute(_STORE_IN_INBOX, list(rows))]


async def delete_from_inbox(conn: AsyncConnection, ids: Sequence[int]) -> None:
    if ids:
        await conn.execute(delete(receipt_inbox).where(receipt_inbox.c.id.in_(ids)))


async def inbox_left_behind(conn: AsyncConnection, received_before: int, limit: int) -> list[Row[Any]]:
    """Inbox receipts received before `received_before`: the worker that wrote them died before
    applying them (its writer applies its own within moments)."""
    query = (select(receipt_inbox).where(receipt_inbox.c.received_ms < received_before)
             .order_by(receipt_inbox.c.id).limit(limit))
    return list(await conn.execute(query))
