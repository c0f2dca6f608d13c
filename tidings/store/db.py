"""The database handle shared by every repository: engine, connections, and the write lock.

SQLite (embedded profile) runs in WAL mode and allows one writer at a time: writes are serialised
by an asyncio lock so that concurrent writers queue in-process instead of spinning on
SQLITE_BUSY. The lock has two lanes: `write(priority=True)` waiters (verification codes) are
let in before ordinary ones, so a code is not queued behind a bulk load's inserts. Its
statements run on the event loop's thread through a synchronous engine, behind a connection
with `AsyncConnection`'s interface (`tidings.store.sqlite_inline.InlineConnection`: no thread
hop and no greenlet per statement), so a write holds the lock only while it works: its
connection is opened, committed and closed without giving the loop a turn
(`Database._connection`). A `WalCheckpointer` thread keeps the WAL short, pausing writes
(`Database.writes_paused`) when it must catch up. `engine` (async, aiosqlite)
stays for schema creation and for tools that want one; `sync_engine` is the engine statements run
through, for event listeners. PostgreSQL
(distributed profile) needs no lock; row-level guards in the queries keep concurrent workers
consistent. Its statements have a timeout (`statement_timeout`, the
`database_timeout_seconds` setting): one unanswered fails with TimeoutError and its connection
is dropped, so a connection cut without a reset costs a caller that long, not hours.

`after_write` hooks run after each `write()` transaction commits (the pipeline wakes its webhook
sender from one when the transaction enqueued webhooks).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, cast

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool, QueuePool

from tidings.config import Settings
from tidings.store import sqlite_inline
from tidings.store.schema import metadata

log = logging.getLogger(__name__)


def sqlite_url(data_dir: str) -> str:
    return f"sqlite+aiosqlite:///{data_dir}/tidings.db"


class Database:
    def __init__(self, url: str, *, pool_size: int = 10,
                 statement_timeout: float = Settings.database_timeout_seconds) -> None:
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        self.is_sqlite = self.dialect == "sqlite"
        kwargs: dict[str, Any] = {}
        path = make_url(url).database if self.is_sqlite else None
        self._checkpointer: sqlite_inline.WalCheckpointer | None = None
        self._inline: Engine | None = None
        if path and path != ":memory:":
            self._checkpointer = sqlite_inline.WalCheckpointer(path, pause_writes=self.writes_paused)
            # max_overflow=-1: a connection is never waited for (the wait would block the loop).
            self._inline = create_engine("sqlite://", creator=sqlite_inline.sync_connector(path),
                                         poolclass=QueuePool, pool_size=pool_size, max_overflow=-1)
        elif self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False}
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False,
                          connect_args={"command_timeout": statement_timeout})
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            # The async engine's connections wait in a thread of their own; the inline ones wait
            # on the loop, so not for long.
            event.listen(self.engine.sync_engine, "connect",
                         lambda dbapi_conn, _record: _sqlite_pragmas(dbapi_conn, 10_000))
        if self._inline is not None:
            event.listen(self._inline, "connect", lambda dbapi_conn, _record: _sqlite_pragmas(
                dbapi_conn, sqlite_inline.BUSY_TIMEOUT_MS))
        self._write_lock = PriorityLock() if self.is_sqlite else None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Called after each `write()` transaction commits; each must be quick (an error is logged).
        self.after_write: list[Callable[[], None]] = []

    @property
    def sync_engine(self) -> Engine:
        """The engine whose connections run the statements (for `before_cursor_execute` hooks)."""
        return self._inline if self._inline is not None else self.engine.sync_engine

    @contextlib.asynccontextmanager
    async def write(self, *, priority: bool = False) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction that commits on exit (rolls back on error).

        `priority`: on SQLite, this write goes before every ordinary writer still waiting for
        the lock (PostgreSQL has no lock and ignores it)."""
        if self._write_lock is None:
            async with self._connection(transaction=True) as conn:
                yield conn
        else:
            if self._checkpointer is not None and self._loop is None:
                self._loop = asyncio.get_running_loop()
                self._checkpointer.start()  # from the first write on
            await self._write_lock.acquire(priority)
            try:
                async with self._connection(transaction=True) as conn:
                    yield conn
            finally:
                self._write_lock.release()
        for hook in self.after_write:  # committed (an error would have left at the yield)
            try:
                hook()
            except Exception:  # noqa: BLE001 - the write is committed: its caller must not retry it
                log.exception("a hook after a committed write failed")

    @contextlib.contextmanager
    def writes_paused(self, *, timeout: float = 5.0) -> Iterator[None]:
        """From a thread other than the loop's: hold the write lock for the body, so that no
        write of this process starts meanwhile (the loop goes on; its writers wait their turn,
        in the ordinary lane). TimeoutError if the lock is not had within `timeout` seconds."""
        loop, lock = self._loop, self._write_lock
        if loop is None or lock is None:
            raise TimeoutError("no write has started yet")
        granted: concurrent.futures.Future[asyncio.Future[None]] = concurrent.futures.Future()

        async def hold() -> None:
            await lock.acquire()
            try:
                released = loop.create_future()
                granted.set_result(released)
                await released
            finally:
                lock.release()

        holding = asyncio.run_coroutine_threadsafe(hold(), loop)
        try:
            released = granted.result(timeout)
        except concurrent.futures.TimeoutError:
            holding.cancel()
            raise TimeoutError("the write lock was not had in time") from None
        try:
            yield
        finally:
            loop.call_soon_threadsafe(_resolve, released)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self._connection(transaction=False) as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def _connection(self, *, transaction: bool) -> AsyncIterator[AsyncConnection]:
        """A pooled connection, in a transaction if asked.

        On a SQLite file, opened, committed and closed in place: SQLAlchemy's async context
        managers close a connection in a task of their own (so that a cancellation cannot
        abandon a close half done), which costs one trip round the event loop — milliseconds
        on a busy loop, and a write spent it holding the write lock (a verification code waited
        behind every idle poll's commit). Statements here never suspend, so nothing can
        interrupt the close."""
        if self._inline is None:  # a driver whose calls suspend (asyncpg): SQLAlchemy's connection
            async with self.engine.connect() as conn:
                try:
                    if transaction:
                        await conn.begin()
                    yield conn
                    if transaction:
                        await conn.commit()
                except TimeoutError:
                    # Unanswered (`statement_timeout`): dropped at once, not rolled back
                    # (that would wait as long again) nor handed to the next caller. Any other
                    # error: the connection's close rolls the transaction back.
                    await conn.invalidate()
                    raise
            return
        with (self._inline.begin() if transaction else self._inline.connect()) as sync_conn:
            yield cast(AsyncConnection, sqlite_inline.InlineConnection(sync_conn))

    async def create_schema(self) -> None:
        """Create every table directly (tests and first start); migrations do the same."""
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def aclose(self) -> None:
        await self.engine.dispose()
        if self._inline is not None:
            self._inline.dispose()
        if self._checkpointer is not None:
            # Off the loop: a round waiting for the write lock needs the loop to run.
            await asyncio.to_thread(self._checkpointer.stop)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # a cancelled holder has let go of the lock already
        future.set_result(None)


class PriorityLock:
    """An asyncio mutex with two FIFO lanes: a priority waiter is let in before every ordinary one.

    Release hands the lock straight to the next waiter (no window in which a newcomer can
    overtake the queue)."""

    def __init__(self) -> None:
        self._locked = False
        self._lanes: tuple[deque[asyncio.Future[None]], deque[asyncio.Future[None]]] = (deque(), deque())

    def locked(self) -> bool:
        return self._locked

    async def acquire(self, priority: bool = False) -> None:
        if not self._locked and not self._lanes[0] and not self._lanes[1]:
            self._locked = True
            return
        lane = self._lanes[0 if priority else 1]
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lane.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed the lock as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    lane.remove(waiter)
            raise

    def release(self) -> None:
        if not self._locked:
            raise RuntimeError("PriorityLock is not locked")
        for lane in self._lanes:
            while lane:
                waiter = lane.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # stays locked: ownership passes to the waiter
                    return
        self._locked = False


def _sqlite_pragmas(dbapi_conn: Any, busy_timeout_ms: int) -> None:
    cur = dbapi_conn.cursor()
    # WAL: readers never block the writer. synchronous=NORMAL in WAL mode survives a process
    # crash (kill -9) without losing committed transactions; only an OS crash can lose the tail.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA cache_size=-65536")
    cur.close()


__all__ = ["Database", "NullPool", "PriorityLock", "sqlite_url"]
