"""Hot write statements run as prepared SQL straight on `sqlite3` in the embedded profile.

SQLAlchemy's per-call Python (cache key, compiled-cache lookup, parameter processing per row,
the greenlet hop, the result wrapper) cost more than the statement itself for the outcome
writer's executemany updates and inserts, which run on every flush. `Prepared` compiles a Core
statement once per dialect; `executemany` binds rows (dicts keyed by bind name) as tuples in
the compiled order and hands them to the `sqlite3` connection behind `conn` — the same
connection and transaction SQLAlchemy uses — when statements run in the loop
(`tidings.store.sqlite_inline`). Anything else (PostgreSQL, aiosqlite) goes through
`conn.execute` unchanged. Only for statements whose parameters need no type processing on
SQLite (ints, strings, None).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

__all__ = ["Prepared"]


class Prepared:
    __slots__ = ("_defaults", "_names", "_sql", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._sql: str | None = None
        self._names: tuple[str, ...] = ()
        self._defaults: dict[str, Any] = {}

    def _compile(self, conn: AsyncConnection) -> str:
        compiled = self.statement.compile(dialect=conn.dialect)  # type: ignore[attr-defined]
        assert compiled.positiontup is not None, "SQLite's paramstyle is positional"
        self._names = tuple(compiled.positiontup)
        self._defaults = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}
        self._sql = compiled.string
        return compiled.string

    async def executemany(self, conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        if not isinstance(driver, sqlite3.Connection):
            await conn.execute(self.statement, list(rows))
            return
        sql = self._sql or self._compile(conn)
        names, defaults = self._names, self._defaults
        driver.executemany(sql, [tuple(row[n] if n in row else defaults[n] for n in names) for row in rows])
