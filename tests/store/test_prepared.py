"""Prepared statements run straight on sqlite3 in the embedded profile, through SQLAlchemy elsewhere."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import JSON, Boolean, Column, Integer, MetaData, String, Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from tidings.core.statuses import Status
from tidings.store import receipts as rq
from tidings.store.db import Database
from tidings.store.prepared import SQL_BY_SIZES, Prepared, PreparedQuery
from tidings.store.schema import submissions


def _part(smsc_id: str, delivery_id: int, part: int = 1) -> dict[str, Any]:
    return {"connection": "c1", "smsc_message_id": smsc_id, "delivery_id": delivery_id, "part": part,
            "parts": 2, "status": Status.DISPATCHED.value, "code": 0, "submitted_ms": 1_000}


async def test_submissions_insert_and_update_in_the_callers_transaction(any_db: Database) -> None:
    async with any_db.write() as conn:
        await rq.insert_submissions(conn, [_part("a", 7), _part("b", 7, 2)])
        await rq.set_part_statuses(conn, [{"b_connection": "c1", "b_id": "b", "b_status": "Delivered",
                                           "b_code": 0}])
        await rq.insert_submissions(conn, [])
    async with any_db.read() as conn:
        rows = {r.smsc_message_id: r for r in await conn.execute(select(submissions))}
    assert {k: (r.delivery_id, r.part, r.status) for k, r in rows.items()} == {
        "a": (7, 1, "Dispatched"), "b": (7, 2, "Delivered")}

    with pytest.raises(RuntimeError):
        async with any_db.write() as conn:
            await rq.insert_submissions(conn, [_part("c", 8)])
            raise RuntimeError("rolled back")
    async with any_db.read() as conn:
        assert len(list(await conn.execute(select(submissions)))) == 2  # "c" went with its transaction


async def test_a_missing_required_value_is_refused(any_db: Database) -> None:
    incomplete = _part("x", 9)
    del incomplete["delivery_id"]
    with pytest.raises(Exception):  # noqa: B017 - KeyError on SQLite, StatementError elsewhere
        async with any_db.write() as conn:
            await rq.insert_submissions(conn, [incomplete])


# -- PreparedQuery, and Prepared's bind processing -----------------------------------------------

_FLAGS = Table("prepared_flags", MetaData(), Column("id", Integer, primary_key=True),
               Column("name", String(20), nullable=False), Column("on", Boolean, nullable=False),
               Column("extra", JSON, nullable=True))
_INSERT_FLAGS = Prepared(insert(_FLAGS).values({c.name: bindparam(c.name) for c in _FLAGS.c}))
_FLAGS_IN = PreparedQuery(select(_FLAGS).where(_FLAGS.c.id.in_(bindparam("ids", expanding=True)),
                                               _FLAGS.c.name != bindparam("not_named")).order_by(_FLAGS.c.id))
_TURN_OFF = PreparedQuery(update(_FLAGS).where(_FLAGS.c.id.in_(bindparam("ids", expanding=True)))
                          .values(on=False).returning(_FLAGS.c.id, _FLAGS.c.on))


async def _with_flags(db: Database) -> None:
    async with db.write() as conn:
        await conn.run_sync(lambda sync_conn: _FLAGS.drop(sync_conn, checkfirst=True))
        await conn.run_sync(lambda sync_conn: _FLAGS.create(sync_conn))
        await _INSERT_FLAGS.executemany(conn, [
            {"id": 1, "name": "a", "on": True, "extra": {"k": [1, 2]}},
            {"id": 2, "name": "b", "on": False, "extra": None},
            {"id": 3, "name": "c", "on": True, "extra": {"k": "v"}},
        ])


async def test_query_rows_read_like_sqlalchemy_rows_with_types_processed(any_db: Database) -> None:
    await _with_flags(any_db)
    async with any_db.read() as conn:
        rows = await _FLAGS_IN.rows(conn, {"ids": [3, 1, 2, 99], "not_named": "b"})
        again = await _FLAGS_IN.rows(conn, {"ids": [2], "not_named": "x"})  # another list size
        none = await _FLAGS_IN.rows(conn, {"ids": [], "not_named": "x"})
    assert [(r.id, r.name, r.on, r.extra) for r in rows] == [(1, "a", True, {"k": [1, 2]}), (3, "c", True, {"k": "v"})]
    assert all(type(r.on) is bool for r in rows)
    assert rows[0][1] == "a" and rows[0]._mapping["name"] == "a"
    assert [(r.id, r.extra) for r in again] == [(2, None)]
    assert none == []


async def test_query_writes_with_returning_in_the_callers_transaction(any_db: Database) -> None:
    await _with_flags(any_db)
    with pytest.raises(RuntimeError):
        async with any_db.write() as conn:
            assert sorted((r.id, r.on) for r in await _TURN_OFF.rows(conn, {"ids": [1, 2]})) == [(1, False), (2, False)]
            raise RuntimeError("rolled back")
    async with any_db.write() as conn:
        assert [r.id for r in await _TURN_OFF.rows(conn, {"ids": [3]})] == [3]
    async with any_db.read() as conn:
        assert [(r.id, r.on) for r in await _FLAGS_IN.rows(conn, {"ids": [1, 2, 3], "not_named": ""})] == [
            (1, True), (2, False), (3, False)]


async def test_constraint_violations_raise_sqlalchemys_errors(any_db: Database) -> None:
    await _with_flags(any_db)
    with pytest.raises(IntegrityError):
        async with any_db.write() as conn:
            await _INSERT_FLAGS.executemany(conn, [{"id": 1, "name": "dup", "on": True, "extra": None}])
    with pytest.raises(IntegrityError):
        async with any_db.write() as conn:
            await PreparedQuery(update(_FLAGS).where(_FLAGS.c.id == bindparam("id_")).values(name=None)
                                .returning(_FLAGS.c.id)).rows(conn, {"id_": 1})


async def test_query_with_a_literal_in_list_and_a_limit(any_db: Database) -> None:
    await _with_flags(any_db)
    named = PreparedQuery(select(_FLAGS.c.id).where(_FLAGS.c.name.in_(("a", "c")), _FLAGS.c.id >= bindparam("from_"))
                          .order_by(_FLAGS.c.id.desc()).limit(1))
    async with any_db.read() as conn:
        assert [r.id for r in await named.rows(conn, {"from_": 0})] == [3]
        assert [r.id for r in await named.rows(conn, {"from_": 4})] == []


async def test_the_sql_remembered_per_list_size_stays_bounded(any_db: Database) -> None:
    await _with_flags(any_db)
    query = PreparedQuery(select(_FLAGS.c.id).where(_FLAGS.c.id.in_(bindparam("ids", expanding=True))))
    async with any_db.read() as conn:
        for size in range(1, SQL_BY_SIZES + 50):
            assert len(await query.rows(conn, {"ids": list(range(1, size + 1))})) == min(size, 3)
    if any_db.is_sqlite:
        assert 0 < len(query._sql_by_sizes) <= SQL_BY_SIZES


async def test_on_postgresql_a_list_goes_as_one_array_parameter(any_db: Database) -> None:
    """One SQL text whatever the list's length, so asyncpg prepares it once per connection."""
    await _with_flags(any_db)
    query = PreparedQuery(select(_FLAGS.c.id).where(_FLAGS.c.id.in_(bindparam("ids", expanding=True)),
                                                    _FLAGS.c.name != bindparam("not_named")).order_by(_FLAGS.c.id))
    async with any_db.read() as conn:
        assert [r.id for r in await query.rows(conn, {"ids": [1, 3], "not_named": "c"})] == [1]
        assert [r.id for r in await query.rows(conn, {"ids": [1, 2, 3], "not_named": "x"})] == [1, 2, 3]
        assert [r.id for r in await query.rows(conn, {"ids": [], "not_named": "x"})] == []
    if not any_db.is_sqlite:
        sql = query._asyncpg.sql  # type: ignore[union-attr]
        assert "prepared_flags.id = ANY($1::INTEGER[])" in sql and "$2::VARCHAR" in sql, sql
