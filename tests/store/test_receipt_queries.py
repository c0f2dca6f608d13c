"""Receipt-side lookups by (connection, SMSC message id): right rows, and an index, not a scan."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import bindparam, select, text

from tidings.core.statuses import Status
from tidings.store import deliveries as dq
from tidings.store import inbound as iq
from tidings.store import receipts as rq
from tidings.store import schema
from tidings.store.db import Database


def _submission(connection: str, smsc_id: str, delivery_id: int) -> dict[str, object]:
    return dict(connection=connection, smsc_message_id=smsc_id, delivery_id=delivery_id, part=1,
                parts=1, status="Dispatched", code=0, submitted_ms=1)


async def test_find_submissions_matches_connection_and_id_together(any_db: Database) -> None:
    async with any_db.write() as conn:
        await rq.insert_submissions(conn, [
            _submission("a", "1", 10), _submission("a", "2", 11), _submission("b", "1", 12),
            _submission("b", "3", 13),
        ])
        found = await rq.find_submissions(conn, [("a", "1"), ("b", "3"), ("b", "2"), ("c", "1")])
    assert {k: r.delivery_id for k, r in found.items()} == {("a", "1"): 10, ("b", "3"): 13}


async def test_lookups_use_the_index_on_sqlite(any_db: Database) -> None:
    """Each lookup by SMSC message id, as run (prepared on `sqlite3`, its trace writes the
    parameters in), is planned with the table's key or index (tests/store/test_postgres_plans.py
    holds PostgreSQL's)."""
    if not any_db.is_sqlite:
        return
    keys = [("a", "1"), ("a", "2"), ("b", "9")]
    statements: list[str] = []
    async with any_db.write() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        driver.set_trace_callback(lambda sql: statements.append(sql) if sql.startswith("SELECT") else None)
        try:
            await rq.find_submissions(conn, keys)
            await rq.take_orphans(conn, keys)
            await iq.existing_keys(conn, keys)
        finally:
            driver.set_trace_callback(None)
    tables = [next(t for t in ("submissions", "orphan_receipts", "inbounds") if f"FROM {t}" in sql)
              for sql in statements]
    assert sorted(tables) == ["inbounds", "inbounds", "orphan_receipts", "orphan_receipts",
                              "submissions", "submissions"], statements  # a statement per connection
    async with any_db.read() as conn:
        for table, sql in zip(tables, statements, strict=True):
            plan = " ".join(str(r[-1]) for r in (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)).all())
            assert f"SCAN {table}" not in plan and "USING" in plan and "INDEX" in plan, plan


async def plans_of_delivery_updates(db: Database, work: Callable[[Any], Awaitable[None]]) -> list[str]:
    """SQLite's query plan of each `UPDATE deliveries` that `work(conn)` runs in a write, whether
    through SQLAlchemy or prepared on the `sqlite3` connection (its trace sees both, with the
    parameters written in)."""
    statements: list[str] = []

    def capture(statement: str) -> None:
        if statement.startswith("UPDATE deliveries"):
            statements.append(statement)

    async with db.write() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        driver.set_trace_callback(capture)
        try:
            await work(conn)
        finally:
            driver.set_trace_callback(None)
    plans = []
    async with db.read() as conn:
        for statement in statements:
            rows = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement)).all()
            plans.append(" ".join(str(r[-1]) for r in rows))
    return plans


async def test_claim_and_fail_unclaimed_plan_by_primary_key_on_sqlite(any_db: Database) -> None:
    """`id IN (...) AND status = 'Queued'` must not be planned with the status index: that reads
    the whole Queued backlog on every claim."""
    if not any_db.is_sqlite:
        return

    async def work(conn: Any) -> None:
        await dq.claim(conn, [1, 2, 3], 10, 1000)
        await dq.fail_unclaimed(conn, [1, 2, 3], Status.EXPIRED, None, 10)

    plans = await plans_of_delivery_updates(any_db, work)
    assert len(plans) == 2
    for plan in plans:
        assert "PRIMARY KEY" in plan and "ix_deliveries_queued" not in plan, plan


async def test_publish_due_reads_only_unpublished_rows_on_sqlite(any_db: Database) -> None:
    """The sweeper's search for due, unpublished deliveries runs several times a second; with
    the status index it would read every Queued row (the whole backlog) each time."""
    if not any_db.is_sqlite:
        return

    async def work(conn: Any) -> None:
        assert await dq.publish_due(conn, 1000, 50) == []

    plans = await plans_of_delivery_updates(any_db, work)
    assert len(plans) == 1
    assert "ix_deliveries_unpublished" in plans[0] and "ix_deliveries_queued" not in plans[0], plans[0]


async def test_background_searches_of_queued_rows_use_the_queued_index(any_db: Database) -> None:
    """The stale and overdue searches read the partial index of Queued rows, not the table —
    on PostgreSQL too, where a prepared statement's generic plan sees no bound value (so the
    status is written out)."""
    if any_db.is_sqlite:
        async def work(conn: Any) -> None:
            await dq.republish_stale(conn, 10_000, 1000, 50, unclaimed_published_before=5_000)
            await dq.unpublish_all(conn)

        plans = await plans_of_delivery_updates(any_db, work)
        assert len(plans) == 2
        for plan in plans:
            assert "ix_deliveries_queued" in plan, plan
        return
    d = schema.deliveries
    query = select(d.c.id).where(dq.IS_QUEUED, d.c.published_ms < bindparam("stale"))
    async with any_db.read() as conn:
        sql = str(query.compile(conn.sync_engine)).replace("%(stale)s", "$1")
        assert "status = 'Queued'" in sql, sql
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        await conn.execute(text(f"PREPARE queued_search(bigint) AS {sql}"))
        await conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        plan = " ".join(str(r[0]) for r in await conn.execute(text("EXPLAIN EXECUTE queued_search(5)")))
        await conn.execute(text("DEALLOCATE queued_search"))
    assert "ix_deliveries_queued" in plan, plan
