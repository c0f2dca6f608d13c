"""SQLite statements run on the event loop's own thread, behind SQLAlchemy's aiosqlite dialect.

aiosqlite gives every connection a thread and sends each call there through a queue, resolving a
future back on the loop. For the embedded profile's statements (index lookups and small
executemany writes of tens of microseconds, no network, commits without fsync in WAL mode with
synchronous=NORMAL) the hop costs more than the statement: the loop wakes through its self-pipe,
and the loop thread and the connection threads fight over the GIL — profiled under load, the loop
spent ~16 % of its samples waiting for the GIL right after handing a statement over.

`connect` returns an object shaped like `aiosqlite.Connection` (what SQLAlchemy's adapter calls)
whose coroutines run the `sqlite3` call and return without suspending. It is handed to
`create_async_engine(..., async_creator=...)`; the dialect, pooling and SQL are unchanged.

The price: a statement blocks the loop while it runs. Two things could make that long, and both
are kept off the loop: the WAL checkpoint (it writes the database file and fsyncs) — connections
opened here do not checkpoint on commit (`wal_autocheckpoint=0`); `WalCheckpointer` does it on a
thread of its own — and waiting for a lock held by another connection, which on one thread could
never be released while the loop waits: writers in this process are serialised by
`Database.write()`, so a busy database means another process, and the wait is capped short.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Self

BUSY_TIMEOUT_MS = 250
"""Longest a statement waits (blocking the loop) for another process's lock before it fails."""


class _ImmediateQueue:
    """SQLAlchemy's adapter sets the isolation level by putting (future, fn) on aiosqlite's
    private queue; here the function just runs."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, fn = item
        try:
            future.set_result(fn())
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting caller
            future.set_exception(exc)


class Cursor:
    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = None) -> Cursor:
        if parameters is None:
            self._cursor.execute(sql)
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Cursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *sizes: Any) -> None:
        return None

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class Connection:
    """The parts of `aiosqlite.Connection` SQLAlchemy's aiosqlite adapter uses."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn
        self._tx = _ImmediateQueue()

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @property
    def raw(self) -> sqlite3.Connection:
        """The `sqlite3` connection, for statements run without SQLAlchemy (`tidings.store.prepared`)."""
        return self._conn

    def cursor(self) -> Cursor:
        if self._connection is None:
            raise ValueError("Connection closed")
        return Cursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        return await self.cursor().execute(sql, parameters)

    async def execute_fetchall(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        return self._conn.execute(sql, parameters).fetchall()

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()


def connector(path: str) -> Callable[[], Any]:
    """The `async_creator` for `create_async_engine`: a new connection to the file at `path`."""

    async def connect() -> Connection:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute("PRAGMA wal_autocheckpoint=0")  # WalCheckpointer does it, off the loop
        return Connection(conn)

    return connect


class BufferedCursor(sqlite3.Cursor):
    """A `sqlite3` cursor that reads a query's rows when it runs, as SQLAlchemy's async dialects
    do: a result stays readable after its connection went back to the pool or ran another
    statement."""

    _rows: deque[Any] | None = None

    def execute(self, sql: str, parameters: Any = (), /) -> Self:  # type: ignore[override]
        super().execute(sql, parameters)
        self._rows = deque(super().fetchall()) if self.description is not None else None
        return self

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Self:  # type: ignore[override]
        super().executemany(sql, parameters)
        self._rows = None
        return self

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        rows = self._rows
        if not rows:
            return []
        count = min(len(rows), self.arraysize if size is None else size)
        return [rows.popleft() for _ in range(count)]

    def fetchall(self) -> list[Any]:
        rows, self._rows = list(self._rows or ()), None
        return rows

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if not self._rows:
            raise StopIteration
        return self._rows.popleft()


class BufferedConnection(sqlite3.Connection):
    """A `sqlite3` connection whose cursors are `BufferedCursor`s."""

    def cursor(self, factory: Any = BufferedCursor) -> Any:  # type: ignore[override]
        return super().cursor(factory)


class InlineConnection:
    """The part of `AsyncConnection`'s interface the repositories use (`execute`, `scalar`,
    `scalars`, `run_sync`, `get_raw_connection`, `dialect`, `sync_engine`), over a synchronous SQLAlchemy
    connection whose statements run in place on the loop's thread.

    SQLAlchemy's asyncio layer starts a greenlet for every statement and goes through an async
    adapter that this profile's statements never need (they do not suspend): measured on one
    small indexed select, 44 µs through `AsyncConnection` against 19 µs here, and a read
    transaction with it 102 against 33 µs (`greenlet` maps and unmaps a stack chunk for each)."""

    __slots__ = ("dialect", "sync_connection")

    def __init__(self, sync_connection: Any) -> None:
        self.sync_connection = sync_connection
        self.dialect = sync_connection.dialect

    @property
    def sync_engine(self) -> Any:
        return self.sync_connection.engine

    async def execute(self, statement: Any, parameters: Any = None, *,
                      execution_options: Any = None) -> Any:
        return self.sync_connection.execute(statement, parameters, execution_options=execution_options)

    async def scalar(self, statement: Any, parameters: Any = None, *, execution_options: Any = None) -> Any:
        return self.sync_connection.scalar(statement, parameters, execution_options=execution_options)

    async def scalars(self, statement: Any, parameters: Any = None, *, execution_options: Any = None) -> Any:
        return self.sync_connection.scalars(statement, parameters, execution_options=execution_options)

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Any:
        return self.sync_connection.exec_driver_sql(statement, parameters)

    async def run_sync(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return fn(self.sync_connection, *args, **kwargs)

    async def get_raw_connection(self) -> Any:
        return self.sync_connection.connection


def sync_connector(path: str) -> Callable[[], sqlite3.Connection]:
    """The `creator` for a synchronous engine on the file at `path`: what `Database` runs the
    embedded profile's statements through (no greenlet per statement, no async adapter)."""

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000,
                               factory=BufferedConnection)
        conn.execute("PRAGMA wal_autocheckpoint=0")  # WalCheckpointer does it, off the loop
        return conn

    return connect


class WalCheckpointer:
    """Checkpoints the WAL into the database file on a thread of its own, every `interval`
    seconds (PASSIVE: never waits for readers or the writer; what it could not copy is copied
    next time). Without it the WAL of connections opened by `connector` would grow forever."""

    def __init__(self, path: str, *, interval: float = 1.0) -> None:
        self._path = path
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not self._stop.wait(self._interval):
                conn = conn or self._connect()
                if conn is not None:
                    self.checkpoint(conn)
            conn = conn or self._connect()
            if conn is not None:
                self.checkpoint(conn, mode="TRUNCATE")
        finally:
            if conn is not None:
                conn.close()

    def _connect(self) -> sqlite3.Connection | None:
        """A connection to the database file once it exists (never creates it)."""
        try:
            uri = f"file:{urllib.request.pathname2url(self._path)}?mode=rw"
            return sqlite3.connect(uri, uri=True, check_same_thread=False,
                                   timeout=5.0)
        except sqlite3.Error:
            return None

    @staticmethod
    def checkpoint(conn: sqlite3.Connection, mode: str = "PASSIVE") -> None:
        with contextlib.suppress(sqlite3.Error):  # busy, locked or gone: next round
            conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()


__all__ = ["BUSY_TIMEOUT_MS", "BufferedConnection", "BufferedCursor", "Connection", "Cursor", "InlineConnection",
           "WalCheckpointer", "connector", "sync_connector"]
