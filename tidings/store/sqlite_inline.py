"""SQLite statements run on the event loop's own thread, through a synchronous SQLAlchemy engine.

A thread per connection (aiosqlite) sends each call through a queue and resolves a future back on
the loop; SQLAlchemy's asyncio layer adds a greenlet and an async adapter per statement. For the
embedded profile's statements (index lookups and small executemany writes of tens of
microseconds, no network, commits without fsync in WAL mode with synchronous=NORMAL) each costs
more than the statement: profiled under load, the loop spent ~16 % of its samples waiting for the
GIL right after handing a statement to a thread, and one indexed select took 44 µs through
`AsyncConnection` against 19 µs run in place.

`Database` builds a synchronous engine on `sync_connector(path)` and hands out
`InlineConnection`s: the part of `AsyncConnection`'s interface the repositories use, whose
coroutines run the statement and return without suspending. Rows are read when a statement runs
(`BufferedCursor`), as the async dialects do.

The price: a statement blocks the loop while it runs. Two things could make that long, and both
are kept off the loop: the WAL checkpoint (it writes the database file and fsyncs) — connections
opened here do not checkpoint on commit (`wal_autocheckpoint=0`); `WalCheckpointer` does it on a
thread of its own — and waiting for a lock held by another connection, which on one thread could
never be released while the loop waits: writers in this process are serialised by
`Database.write()`, so a busy database means another process, and the wait is capped short.
"""
from __future__ import annotations

import contextlib
import sqlite3
import threading
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Self

BUSY_TIMEOUT_MS = 250
"""Longest a statement waits (blocking the loop) for another process's lock before it fails."""


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

    def __iter__(self) -> Self:
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
    `scalars`, `run_sync`, `get_raw_connection`, `dialect`, `sync_engine`), over a synchronous
    SQLAlchemy connection whose statements run in place on the loop's thread. Without the
    greenlet (which maps and unmaps a stack chunk each time) a read transaction with one select
    takes 33 µs instead of 102."""

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


RESTART_FRAMES = 4096
"""WAL length (pages of 4 KiB: 16 MiB) past which a checkpoint round also pauses writes to catch
up, so that the next write starts the WAL again from its beginning."""


class WalCheckpointer:
    """Checkpoints the WAL into the database file on a thread of its own, every `interval`
    seconds. Without it the WAL of connections opened by `connector` would grow forever.

    A round is a PASSIVE checkpoint: it never waits for readers or the writer, and what it could
    not copy is copied next time. That alone does not keep the WAL short under a steady load:
    SQLite starts the WAL again from its beginning only when a write begins with every frame
    already copied, and frames are appended while a round copies (measured: 164 MB of WAL
    against a 35 MB database after 25 s of sending). So once the WAL is `restart_frames` long,
    the round copies the rest with writes paused (`pause_writes`, a context manager that holds
    the process's write lock from this thread): only what was appended during the first pass
    remains, and the next write reuses the file from the start."""

    def __init__(self, path: str, *, interval: float = 1.0, restart_frames: int = RESTART_FRAMES,
                 pause_writes: Callable[[], contextlib.AbstractContextManager[None]] | None = None) -> None:
        self._path = path
        self._interval = interval
        self._restart_frames = restart_frames
        self._pause_writes = pause_writes
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.restarts = 0
        """Rounds that caught up with writes paused (for tests and diagnostics)."""

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
                    self._round(conn)
            conn = conn or self._connect()
            if conn is not None:
                self.checkpoint(conn, mode="TRUNCATE")
        finally:
            if conn is not None:
                conn.close()

    def _round(self, conn: sqlite3.Connection) -> None:
        outcome = self.checkpoint(conn)
        if outcome is None or self._pause_writes is None or outcome[1] < self._restart_frames:
            return
        try:
            with self._pause_writes():
                if self.checkpoint(conn) is not None:
                    self.restarts += 1
        except TimeoutError:
            pass  # the loop did not let go of the lock in time (busy or closing): next round

    def _connect(self) -> sqlite3.Connection | None:
        """A connection to the database file once it exists (never creates it)."""
        try:
            uri = f"file:{urllib.request.pathname2url(self._path)}?mode=rw"
            return sqlite3.connect(uri, uri=True, check_same_thread=False,
                                   timeout=5.0)
        except sqlite3.Error:
            return None

    @staticmethod
    def checkpoint(conn: sqlite3.Connection, mode: str = "PASSIVE") -> tuple[int, int, int] | None:
        """(busy, frames in the WAL, frames copied), or None if the round failed."""
        with contextlib.suppress(sqlite3.Error):  # busy, locked or gone: next round
            row = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            return (row[0], row[1], row[2]) if row else None
        return None


__all__ = ["BUSY_TIMEOUT_MS", "RESTART_FRAMES", "BufferedConnection", "BufferedCursor", "InlineConnection", "WalCheckpointer",
           "sync_connector"]
