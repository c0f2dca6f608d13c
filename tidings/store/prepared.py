"""Hot statements run as prepared SQL straight on `sqlite3` in the embedded profile.

SQLAlchemy's per-call Python (cache key, compiled-cache lookup, parameter processing per row,
the greenlet hop, the result wrapper) cost more than the statement itself for the outcome
writer's executemany updates and inserts, which run on every flush. `Prepared` compiles a Core
statement once per dialect; `executemany` binds rows (dicts keyed by bind name) as tuples in
the compiled order and hands them to the `sqlite3` connection behind `conn` — the same
connection and transaction SQLAlchemy uses — when statements run in the loop
(`tidings.store.sqlite_inline`). Anything else (PostgreSQL, aiosqlite) goes through
`conn.execute` unchanged. Parameters and result columns get the type processing SQLAlchemy would
give them on SQLite (JSON, booleans), and errors come out as SQLAlchemy's.

`PreparedQuery` does the same for the hot queries — selects, and writes with RETURNING — whose
id lists are expanding parameters: measured on the outcome writer's flushes, SQLAlchemy's
execution (rendering the id list into the SQL each call, the result wrapper, a `Row` each)
cost 60–200 µs per call on top of 17–80 µs in SQLite. Rows come back as named tuples with the
columns' result processing (booleans, JSON) applied, read by attribute like SQLAlchemy's rows.

On PostgreSQL (asyncpg) both run on the asyncpg connection behind `conn`, inside the
transaction SQLAlchemy holds there (started first if it is not yet): a `PreparedQuery` with each
expanding list sent as one array (`= ANY($n::type[])`), so the SQL is the same whatever the
list's length and asyncpg prepares it once per connection; a `Prepared` write with asyncpg's
executemany. A 50-id select of `submissions` cost 747 µs of the worker's CPU through SQLAlchemy,
227 µs so (a distributed worker spent ~14 % of its samples in these queries); a 20-row insert of
submissions 510 → 381 µs. Errors come out as SQLAlchemy's, translated as its asyncpg dialect
does. This reaches into the dialect's connection adapter (`_execute_mutex`, `_transaction`,
`_start_transaction`, `_handle_exception`: SQLAlchemy's own execute path), which is why
SQLAlchemy's version is pinned.

A statement prepared once per connection can meet PostgreSQL's generic-plan trap: after five
runs it may settle on a plan made without the parameters' values, for the table as it was then,
and keep it as the table grows until statistics change. `planned_for_parameters(conn)` plans the
statements run inside it for their parameters (`SET LOCAL plan_cache_mode`), for the lookups
where that matters: by SMSC message id in tables that grow (`submissions`, `orphan_receipts`,
`inbounds`). Nested inside another, it adds nothing.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections import namedtuple
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from tidings.store.sqlite_inline import InlineConnection

__all__ = ["Prepared", "PreparedQuery", "planned_for_parameters"]

_CUSTOM_PLANS = text("SET LOCAL plan_cache_mode = force_custom_plan")
_DEFAULT_PLANS = text("SET LOCAL plan_cache_mode = DEFAULT")
_PLANNING = "tidings.planned_for_parameters"  # in the connection's info while inside


@contextlib.asynccontextmanager
async def planned_for_parameters(conn: AsyncConnection) -> AsyncIterator[None]:
    """On PostgreSQL, the statements run inside are planned for their parameters and the tables
    as they are now, even when prepared long ago (two statements more; SQLite plans every run).
    Inside another, it leaves the setting to the outer one."""
    if conn.dialect.name != "postgresql" or conn.info.get(_PLANNING):
        yield
        return
    await conn.execute(_CUSTOM_PLANS)
    conn.info[_PLANNING] = True
    try:
        yield
    finally:
        # On an error the transaction is rolled back, and SET LOCAL with it.
        conn.info.pop(_PLANNING, None)
    await conn.execute(_DEFAULT_PLANS)

_EXPANDING = re.compile(r"__\[POSTCOMPILE_(\w+)\]")
# In asyncpg's SQL: a numbered parameter, or an expanding list in `IN (...)`.
_ASYNCPG_PARAMETER = re.compile(r"\$(\d+)|IN \(__\[POSTCOMPILE_(\w+)\]\)")
SQL_BY_SIZES = 256


def inline_sqlite(conn: Any) -> sqlite3.Connection | None:
    """The `sqlite3` connection (and transaction) behind `conn` when its statements run in the
    loop, else None."""
    if isinstance(conn, InlineConnection):
        driver = conn.sync_connection.connection.driver_connection
        return driver if isinstance(driver, sqlite3.Connection) else None
    return None


def _wrapped(sql: str, error: sqlite3.Error) -> StatementError:
    """The error SQLAlchemy would have raised (IntegrityError, OperationalError …), so callers
    catch the same exceptions whichever way a statement ran."""
    return DBAPIError.instance(sql, None, error, sqlite3.Error)  # type: ignore[arg-type]


def _processed(rows: list[Any], processors: list[tuple[int, Callable[[Any], Any]]]) -> list[Any]:
    """`rows` (sequences of values) with `processors` applied at their column indexes, as tuples."""
    if not processors:
        return rows
    out = []
    for values in rows:
        row = list(values)
        for index, processor in processors:
            row[index] = processor(row[index])
        out.append(tuple(row))
    return out


async def _on_asyncpg(conn: AsyncConnection, sql: str, params: Any, call: Callable[[Any], Awaitable[Any]]) -> Any:
    """`call(asyncpg connection)` as SQLAlchemy's asyncpg dialect runs a statement: under the
    adapter's mutex, inside its transaction (begun first if it is not yet), errors translated to
    SQLAlchemy's."""
    adapter: Any = (await conn.get_raw_connection()).dbapi_connection
    dbapi: Any = conn.dialect.dbapi
    try:
        async with adapter._execute_mutex:
            if adapter._transaction is None:
                await adapter._start_transaction()
            try:
                return await call(adapter._connection)
            except Exception as error:  # noqa: BLE001 - translated as SQLAlchemy's dialect does
                adapter._handle_exception(error)
    except dbapi.Error as error:
        raise DBAPIError.instance(sql, params, error, dbapi.Error) from error


class _AsyncpgStatement:
    """A statement compiled for asyncpg: its parameters in order, their defaults, and the bind
    processors SQLAlchemy would apply (by parameter index)."""

    __slots__ = ("binds", "defaults", "names", "sql")

    def __init__(self, compiled: Any, dialect: Any) -> None:
        assert compiled.positiontup is not None, "asyncpg's paramstyle is positional"
        self.names: tuple[str, ...] = tuple(compiled.positiontup)
        self.defaults = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}
        self.binds = [(i, p) for i, name in enumerate(self.names)
                      if (p := compiled.binds[name].type._cached_bind_processor(dialect)) is not None]
        self.sql: str = compiled.string


class _AsyncpgWrite(_AsyncpgStatement):
    """A `Prepared` statement as asyncpg SQL, run with asyncpg's executemany (module docstring)."""

    __slots__ = ()

    def __init__(self, statement: Executable, dialect: Any) -> None:
        compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        if "__[POSTCOMPILE_" in compiled.string:
            raise ValueError(f"expanding parameters in an executemany: {compiled.string}")
        super().__init__(compiled, dialect)

    async def executemany(self, conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
        names, defaults = self.names, self.defaults
        values = _processed([tuple(row[n] if n in row else defaults[n] for n in names) for row in rows], self.binds)
        await _on_asyncpg(conn, self.sql, values, lambda driver: driver.executemany(self.sql, values))


class Prepared:
    """An executemany write compiled once per dialect; see the module docstring. Parameters whose
    type processes its binds on SQLite (JSON) are processed as SQLAlchemy would."""

    __slots__ = ("_asyncpg", "_defaults", "_names", "_processors", "_sql", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._sql: str | None = None
        self._names: tuple[str, ...] = ()
        self._defaults: dict[str, Any] = {}
        self._processors: list[tuple[int, Callable[[Any], Any]]] = []
        self._asyncpg: _AsyncpgWrite | None = None

    def _compile(self, conn: AsyncConnection) -> str:
        compiled = self.statement.compile(dialect=conn.dialect)  # type: ignore[attr-defined]
        assert compiled.positiontup is not None, "SQLite's paramstyle is positional"
        self._names = tuple(compiled.positiontup)
        self._defaults = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}
        self._processors = [
            (index, processor) for index, name in enumerate(self._names)
            if (processor := compiled.binds[name].type._cached_bind_processor(conn.dialect)) is not None
        ]
        self._sql = compiled.string
        return compiled.string

    async def executemany(self, conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        driver = inline_sqlite(conn)
        if driver is None:
            if conn.dialect.driver == "asyncpg":
                if self._asyncpg is None:
                    self._asyncpg = _AsyncpgWrite(self.statement, conn.dialect)
                await self._asyncpg.executemany(conn, rows)
                return
            await conn.execute(self.statement, list(rows))
            return
        sql = self._sql or self._compile(conn)
        names, defaults = self._names, self._defaults
        values = _processed([tuple(row[n] if n in row else defaults[n] for n in names) for row in rows],
                            self._processors)
        try:
            driver.executemany(sql, values)
        except sqlite3.Error as exc:
            raise _wrapped(sql, exc) from exc


def _row_factory(compiled: Any, dialect: Any) -> tuple[Callable[[Any], Any], list[tuple[int, Callable[[Any], Any]]]]:
    """A named-tuple maker for the statement's result columns, and their result processors."""
    columns = compiled._result_columns  # (key, name, objects, type) per column
    base = namedtuple("PreparedRow", [column[0] for column in columns])  # type: ignore[misc]
    row: Any = type("PreparedRow", (base,), {"__slots__": (), "_mapping": property(lambda r: dict(zip(r._fields, r)))})
    processors = [
        (index, processor) for index, column in enumerate(columns)
        if (processor := column[3]._cached_result_processor(dialect, None)) is not None
    ]
    return row._make, processors


class _AsyncpgQuery(_AsyncpgStatement):
    """A `PreparedQuery`'s statement as asyncpg SQL, expanding lists as arrays (module docstring)."""

    __slots__ = ("expanding", "make", "processors")

    def __init__(self, statement: Executable, dialect: Any) -> None:
        compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        super().__init__(compiled, dialect)
        self.expanding = frozenset(i for i, name in enumerate(self.names) if compiled.binds[name].expanding)
        numbered = iter(range(1, len(self.names) + 1))
        seen: list[str] = []

        def renumber(match: re.Match[str]) -> str:
            number = next(numbered)
            if match.group(2) is None:
                seen.append(self.names[number - 1])
                return f"${number}"
            seen.append(match.group(2))
            array_type = dialect.type_compiler_instance.process(compiled.binds[match.group(2)].type)
            return f"= ANY(${number}::{array_type}[])"

        self.sql = _ASYNCPG_PARAMETER.sub(renumber, compiled.string)
        if seen != list(self.names) or "__[POSTCOMPILE_" in self.sql:
            raise ValueError(f"cannot run as asyncpg SQL: {compiled.string}")
        self.make, self.processors = _row_factory(compiled, dialect)

    async def rows(self, conn: AsyncConnection, params: Mapping[str, Any]) -> list[Any]:
        values = [params[name] if name in params else self.defaults[name] for name in self.names]
        for index in self.expanding:
            values[index] = list(values[index])  # one array (a literal IN list may be a tuple)
        for index, processor in self.binds:
            value = values[index]
            values[index] = [processor(v) for v in value] if index in self.expanding else processor(value)
        records = await _on_asyncpg(conn, self.sql, values, lambda driver: driver.fetch(self.sql, *values))
        return list(map(self.make, _processed(records, self.processors)))


class PreparedQuery:
    """A query compiled once per dialect; see the module docstring. `rows(conn, params)` returns
    every row; expanding parameters take lists (an empty one matches nothing)."""

    __slots__ = ("_asyncpg", "_chunks", "_defaults", "_expanding", "_make", "_names", "_processors",
                 "_sql_by_sizes", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._chunks: list[str] | None = None
        self._expanding: frozenset[str] = frozenset()
        self._names: tuple[str, ...] = ()
        self._defaults: dict[str, Any] = {}
        self._sql_by_sizes: dict[tuple[int, ...], str] = {}
        self._processors: list[tuple[int, Callable[[Any], Any]]] = []
        self._make: Callable[[Any], Any] = tuple
        self._asyncpg: _AsyncpgQuery | None | bool = None  # False: this statement cannot run so

    def _compile(self, conn: InlineConnection) -> list[str]:
        compiled = self.statement.compile(dialect=conn.dialect)  # type: ignore[attr-defined]
        assert compiled.positiontup is not None, "SQLite's paramstyle is positional"
        self._names = tuple(compiled.positiontup)
        self._defaults = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}
        chunks = _EXPANDING.split(compiled.string)  # sql, name, sql, name, ..., sql
        self._expanding = frozenset(chunks[1::2])
        self._make, self._processors = _row_factory(compiled, conn.dialect)
        self._chunks = chunks
        return chunks

    def _sql(self, chunks: list[str], sizes: tuple[int, ...]) -> str:
        """The SQL for lists of these sizes, remembered for up to `SQL_BY_SIZES` size combinations
        (forgotten all at once when full, so memory stays bounded whatever sizes come)."""
        sql = self._sql_by_sizes.get(sizes)
        if sql is None:
            out = [chunks[0]]
            for size, tail in zip(sizes, chunks[2::2], strict=True):
                out.append(", ".join("?" * size) if size else "NULL")
                out.append(tail)
            sql = "".join(out)
            if len(self._sql_by_sizes) >= SQL_BY_SIZES:
                self._sql_by_sizes.clear()
            self._sql_by_sizes[sizes] = sql
        return sql

    async def rows(self, conn: AsyncConnection, params: Mapping[str, Any]) -> list[Any]:
        driver = inline_sqlite(conn)
        if driver is None:
            if conn.dialect.driver == "asyncpg" and self._asyncpg is not False:
                if self._asyncpg is None:
                    try:
                        self._asyncpg = _AsyncpgQuery(self.statement, conn.dialect)
                    except ValueError:
                        self._asyncpg = False
                        return list(await conn.execute(self.statement, dict(params)))
                return await self._asyncpg.rows(conn, params)  # type: ignore[union-attr]
            return list(await conn.execute(self.statement, dict(params)))
        chunks = self._chunks or self._compile(conn)  # type: ignore[arg-type]
        values: list[Any] = []
        sizes: list[int] = []
        expanding, defaults = self._expanding, self._defaults
        for name in self._names:
            if name in expanding:
                items = params[name] if name in params else defaults[name]  # a literal IN list
                values.extend(items)
                sizes.append(len(items))
            else:
                values.append(params[name] if name in params else defaults[name])
        sql = self._sql(chunks, tuple(sizes))
        try:
            raw = sqlite3.Cursor(driver).execute(sql, values).fetchall()
        except sqlite3.Error as exc:
            raise _wrapped(sql, exc) from exc
        return list(map(self._make, _processed(raw, self._processors)))
