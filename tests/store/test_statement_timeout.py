"""PostgreSQL connections cut without a reset: a statement left unanswered fails within the
statement timeout, its connection is dropped, and the next caller gets a live one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlparse

import pytest
from sqlalchemy import func, insert, select, text

from tidings.store import receipts as rq
from tidings.store.db import Database
from tidings.store.schema import metadata, submissions
from tidings.testing.relay import FreezingRelay

TIMEOUT = 0.5
# The statement's timeout, then at most asyncpg's 2 s graceful close before the connection is
# terminated, and slack for a loaded machine; a frozen connection without the timeout never ends.
BOUND = TIMEOUT + 2 + 2


@pytest.fixture
async def through_relay(postgres_url: str) -> AsyncIterator[tuple[Database, FreezingRelay]]:
    admin = Database(postgres_url)
    async with admin.write() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    await admin.aclose()
    relay = FreezingRelay(urlparse(postgres_url).port or 5432)
    await relay.start()
    db = Database(relay.url(postgres_url), pool_size=2, statement_timeout=TIMEOUT)
    try:
        yield db, relay
    finally:
        await db.aclose()
        await relay.stop()


async def _fails_in_time(call: Callable[[], Awaitable[object]]) -> None:
    """`call()` raises TimeoutError within BOUND (without the statement timeout it never ends)."""
    task = asyncio.ensure_future(call())
    done, _ = await asyncio.wait({task}, timeout=BOUND)
    if not done:
        task.cancel()
        pytest.fail(f"still waiting after {BOUND} s")
    with pytest.raises(TimeoutError):
        task.result()


def _part(smsc_id: str) -> dict[str, object]:
    return {"connection": "c1", "smsc_message_id": smsc_id, "delivery_id": 1, "part": 1, "parts": 1,
            "status": "Dispatched", "code": 0, "submitted_ms": 1_000}


async def _count(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(submissions))).scalar_one())


async def _warm(db: Database, n: int) -> None:
    """Put `n` connections in the pool (each then frozen by `freeze_all`)."""
    conns = [db.read() for _ in range(n)]
    for cm in conns:
        await (await cm.__aenter__()).execute(text("SELECT 1"))
    for cm in conns:
        await cm.__aexit__(None, None, None)


async def test_a_read_on_a_frozen_connection_fails_in_time_and_the_next_gets_a_live_one(
        through_relay: tuple[Database, FreezingRelay]) -> None:
    db, relay = through_relay
    await _warm(db, 2)
    relay.freeze_all()
    for _ in range(2):  # both pooled connections are frozen: each fails once, then is gone
        await _fails_in_time(lambda: _count(db))
    started = time.monotonic()
    assert [await _count(db) for _ in range(5)] == [0] * 5
    assert time.monotonic() - started < 1.0  # no frozen connection was handed out again


async def test_a_write_on_a_frozen_connection_fails_in_time_commits_nothing_and_the_next_commits(
        through_relay: tuple[Database, FreezingRelay]) -> None:
    db, relay = through_relay
    async with db.write() as conn:  # the pool's one connection, live
        await conn.execute(insert(submissions).values(_part("before")))
    relay.freeze_all()

    async def write_frozen() -> None:
        async with db.write() as conn:
            await conn.execute(insert(submissions).values(_part("frozen")))

    await _fails_in_time(write_frozen)
    async with db.write() as conn:
        await rq.insert_submissions(conn, [_part("after")])  # a prepared statement, on asyncpg itself
    async with db.read() as conn:
        ids = sorted(r.smsc_message_id for r in await conn.execute(select(submissions.c.smsc_message_id)))
    assert ids == ["after", "before"]


async def test_a_prepared_statement_on_a_frozen_connection_fails_in_time(
        through_relay: tuple[Database, FreezingRelay]) -> None:
    db, relay = through_relay
    await _warm(db, 1)
    relay.freeze_all()

    async def write_frozen() -> None:
        async with db.write() as conn:
            await rq.insert_submissions(conn, [_part("frozen")])

    await _fails_in_time(write_frozen)
    assert await _count(db) == 0


async def test_a_slow_statement_on_a_live_connection_is_cancelled_and_the_pool_goes_on(
        through_relay: tuple[Database, FreezingRelay]) -> None:
    db, _relay = through_relay

    async def sleep_long() -> None:
        async with db.read() as conn:
            await conn.execute(text("SELECT pg_sleep(30)"))

    await _fails_in_time(sleep_long)
    assert await _count(db) == 0
    async with db.read() as conn:  # the server is not still sleeping on one of our connections
        sleeping = (await conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'"
        ))).scalar_one()
    assert sleeping == 0
