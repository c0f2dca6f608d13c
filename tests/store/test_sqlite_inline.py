"""SQLite on the event loop's thread: statements never leave it, the WAL is checkpointed off it,
and another process's lock makes a statement fail fast instead of freezing the loop."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text

from tidings.store import sqlite_inline
from tidings.store.db import Database, sqlite_url
from tidings.store.schema import projects


@pytest.fixture
async def db(tmp_path: Path) -> Database:
    database = Database(sqlite_url(str(tmp_path)))
    await database.create_schema()
    yield database  # type: ignore[misc]
    await database.aclose()


async def test_statements_run_on_the_loop_thread(db: Database) -> None:
    threads: set[int] = set()
    async with db.write() as conn:
        raw = await conn.get_raw_connection()
        raw.driver_connection.create_function(  # type: ignore[union-attr]
            "where_am_i", 0, lambda: threads.add(threading.get_ident()) or 1)
        await conn.execute(insert(projects), [{"id": f"p{i}", "name": f"n{i}", "webhook_secret": "s", "created_ms": 1} for i in range(3)])
        assert (await conn.execute(text("SELECT where_am_i()"))).scalar() == 1
    async with db.read() as conn:
        assert (await conn.execute(select(projects.c.id).order_by(projects.c.id))).scalars().all() == ["p0", "p1", "p2"]
    assert threads == {threading.get_ident()}


async def test_results_stay_readable_after_the_connection_is_returned(db: Database) -> None:
    """Rows are read when the statement runs (as SQLAlchemy's async dialects do), so a result
    read after its block — or after the same pooled connection ran another statement — is whole."""
    async with db.write() as conn:
        await conn.execute(insert(projects), [{"id": f"p{i}", "name": f"n{i}", "webhook_secret": "s", "created_ms": 1} for i in range(50)])
    async with db.read() as conn:
        late = await conn.execute(select(projects.c.id).order_by(projects.c.id))
        assert (await conn.execute(select(projects.c.id).where(projects.c.id == "p7"))).scalar() == "p7"
    async with db.write() as conn:  # the same pooled sqlite3 connection, a new transaction
        await conn.execute(projects.delete())
    assert [row.id for row in late] == [f"p{i}" for i in sorted(range(50), key=str)]


async def test_connections_are_never_waited_for(db: Database) -> None:
    """Holding more connections than the pool keeps opens more (a wait would block the loop)."""
    held = []
    for _ in range(25):
        context = db.read()
        held.append((context, await context.__aenter__()))
    for _context, conn in held:
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    for context, _conn in reversed(held):
        await context.__aexit__(None, None, None)
    assert db.sync_engine.pool.checkedout() == 0


async def test_wal_is_checkpointed_by_its_own_thread(tmp_path: Path) -> None:
    db = Database(sqlite_url(str(tmp_path)))
    await db.create_schema()
    wal = tmp_path / "tidings.db-wal"
    async with db.write() as conn:
        assert (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 0
        await conn.execute(insert(projects), [{"id": f"p{i}", "name": "x" * 500, "webhook_secret": "s", "created_ms": 1} for i in range(2000)])
    assert wal.stat().st_size > 500_000  # nothing checkpointed on commit
    with sqlite3.connect(tmp_path / "tidings.db") as probe:
        frames_before = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert frames_before[0] == 0
    await db.aclose()  # the checkpointer's last round truncates the WAL
    assert not wal.exists() or wal.stat().st_size == 0
    with sqlite3.connect(tmp_path / "tidings.db") as check:
        assert check.execute("SELECT count(*) FROM projects").fetchone()[0] == 2000


async def test_periodic_checkpoint_copies_the_wal_into_the_database(tmp_path: Path) -> None:
    path = str(tmp_path / "tidings.db")
    db = Database(sqlite_url(str(tmp_path)))
    await db.create_schema()
    db._checkpointer = sqlite_inline.WalCheckpointer(path, interval=0.05)  # a fast round
    size_before = os.path.getsize(path)
    async with db.write() as conn:
        await conn.execute(insert(projects), [{"id": f"p{i}", "name": "x" * 500, "webhook_secret": "s", "created_ms": 1} for i in range(2000)])
    deadline = time.monotonic() + 5
    while os.path.getsize(path) <= size_before + 500_000 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert os.path.getsize(path) > size_before + 500_000
    await db.aclose()


async def test_the_wal_stays_short_under_writes_that_never_stop(tmp_path: Path) -> None:
    """A passive round cannot catch up with writes that go on while it copies (without the
    pause this WAL grew to 52 MB); once the WAL is long, the round pauses writes to finish, and
    the next write starts the WAL from its beginning."""
    path = str(tmp_path / "tidings.db")
    db = Database(sqlite_url(str(tmp_path)))
    await db.create_schema()
    db._checkpointer = sqlite_inline.WalCheckpointer(path, interval=0.02, restart_frames=200,
                                                     pause_writes=db.writes_paused)
    wal = tmp_path / "tidings.db-wal"
    written = 0
    for round_ in range(400):  # ~100 KB a transaction, ~40 MB in all, with no pause between them
        async with db.write() as conn:
            await conn.execute(insert(projects), [
                {"id": f"p{round_}-{i}", "name": "x" * 400, "webhook_secret": "s", "created_ms": 1}
                for i in range(200)])
        written += 200
        await asyncio.sleep(0)
    assert db._checkpointer.restarts > 0
    assert wal.stat().st_size < 12_000_000
    await db.aclose()
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT count(*) FROM projects").fetchone()[0] == written


async def test_paused_writes_wait_for_the_pause_to_end(db: Database) -> None:
    async with db.write() as conn:  # the first write: the loop is known from here on
        await conn.execute(text("CREATE TABLE seen (step TEXT)"))
    order: list[str] = []
    paused = threading.Event()
    resume = threading.Event()

    def pause_from_a_thread() -> None:
        with db.writes_paused():
            paused.set()
            resume.wait(5)
            order.append("pause ended")

    thread = threading.Thread(target=pause_from_a_thread)
    thread.start()
    await asyncio.to_thread(paused.wait, 5)

    async def write() -> None:
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO seen VALUES ('x')"))
            order.append("write")

    writing = asyncio.create_task(write())
    await asyncio.sleep(0.05)
    assert order == []  # the write waits; the loop does not
    resume.set()
    await asyncio.wait_for(writing, 5)
    await asyncio.to_thread(thread.join)
    assert order == ["pause ended", "write"]


async def test_a_lock_held_by_another_process_fails_fast(db: Database, tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "tidings.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        with pytest.raises(Exception, match="locked"):
            async with db.write() as conn:
                await conn.execute(insert(projects), [{"id": "p", "name": "n", "webhook_secret": "s", "created_ms": 1}])
        assert time.monotonic() - started < 2 * sqlite_inline.BUSY_TIMEOUT_MS / 1000 + 0.5
    finally:
        other.execute("ROLLBACK")
        other.close()
    async with db.write() as conn:  # and works again once the lock is gone
        await conn.execute(insert(projects), [{"id": "p", "name": "n", "webhook_secret": "s", "created_ms": 1}])


async def test_a_write_holds_the_lock_for_no_trip_round_the_loop(db: Database) -> None:
    """Opening, committing and closing a write runs in place: nothing else scheduled on the loop
    runs while the transaction holds the write lock (a busy loop would make each trip
    milliseconds long, and every other writer — a verification code's too — would wait them out)."""
    async with db.write() as conn:
        await conn.execute(text("CREATE TABLE seen (step TEXT)"))
    order: list[str] = []
    loop = asyncio.get_running_loop()
    for _ in range(3):
        loop.call_soon(order.append, "other work")
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO seen VALUES ('x')"))
            order.append("statement")
        order.append("lock released")
        async with db.read() as conn:
            await conn.execute(text("SELECT count(*) FROM seen"))
        order.append("read done")
        await asyncio.sleep(0)
    assert order == ["statement", "lock released", "read done", "other work"] * 3


async def test_a_failed_write_rolls_back_and_frees_the_connection(db: Database) -> None:
    async with db.write() as conn:
        await conn.execute(text("CREATE TABLE kept (x INTEGER)"))
    with pytest.raises(RuntimeError):
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO kept VALUES (1)"))
            raise RuntimeError("refused half way")
    async with db.write() as conn:
        await conn.execute(text("INSERT INTO kept VALUES (2)"))
    async with db.read() as conn:
        assert [r.x for r in await conn.execute(text("SELECT x FROM kept"))] == [2]
    assert db.sync_engine.pool.checkedout() == 0
