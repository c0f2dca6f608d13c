"""Group commit: many concurrent requests' inserts written in one transaction.

Each API request that accepts messages hands its rows to the committer and waits. While one
transaction is being committed, new requests queue up; the next transaction takes all of them,
with one multi-row INSERT per table. Durability is unchanged (every caller is answered only after
its rows are committed); the fsync and round-trip cost is shared. If a combined transaction
fails (say, one request's idempotency key collides), each request is retried alone so that one
bad request cannot fail its neighbours.

Two lanes: priority units (verification codes) are committed by their own task, in their own
small transactions, taking the SQLite write lock's priority lane (`Database.write(priority=True)`),
so they go in right after the transaction in progress instead of behind the bulk backlog.
Ordinary transactions are bounded by `max_rows` (a unit is never split) so that one bulk commit
holds the write lock only briefly.

New ids of `returning` tables: PostgreSQL answers them with `INSERT ... RETURNING` in parameter
order. On SQLite that statement is the bottleneck of the whole send path (SQLAlchemy cannot
batch an order-preserving RETURNING there and falls back to small statements: 4,000 single-row
units/s, 8,500 rows/s in 100-row units), so the ids are assigned here instead, from the table's
current maximum, and the rows go in as one plain executemany, prepared once per table and set
of columns (`tidings.store.prepared`). That is safe because SQLite has one writer:
`Database.write()` holds the process's write lock, and the embedded profile is the only process
that inserts deliveries. Rows naming different columns go in separate statements (an
executemany takes its columns from its first row).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, Table, bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.store.db import Database
from tidings.store.prepared import Prepared, inline_sqlite
from tidings.tasks import cancel_and_wait

log = logging.getLogger(__name__)


@dataclass
class InsertUnit:
    """Rows to insert, per table in dependency order; ids are returned for `returning` tables."""

    rows: Sequence[tuple[Table, Sequence[dict[str, Any]]]]
    returning: frozenset[str] = frozenset()
    future: asyncio.Future[dict[str, list[int]]] = field(init=False)

    @property
    def size(self) -> int:
        return sum(len(rows) for _, rows in self.rows)


@dataclass
class _Lane:
    priority: bool
    pending: list[InsertUnit] = field(default_factory=list)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    committing: bool = False  # a transaction of units taken from `pending` is under way


class GroupCommitter:
    def __init__(self, db: Database, *, max_units: int = 1024, max_rows: int = 4096,
                 priority_max_units: int = 64) -> None:
        self._db = db
        self._max_units = max_units
        self._max_rows = max_rows
        self._priority_max_units = priority_max_units
        self._lanes = (_Lane(priority=False), _Lane(priority=True))
        self.transactions = 0
        self.units = 0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for lane in self._lanes:
            if lane.task is None:
                name = "group-commit-priority" if lane.priority else "group-commit"
                lane.task = loop.create_task(self._run(lane), name=name)

    async def insert(
        self, rows: Sequence[tuple[Table, Sequence[dict[str, Any]]]], returning: frozenset[str] = frozenset(),
        *, priority: bool = False,
    ) -> dict[str, list[int]]:
        """Insert the rows durably; returns the new ids of `returning` tables, in row order.

        `priority` units are committed in their own small transactions ahead of ordinary ones."""
        unit = InsertUnit(rows, returning)
        unit.future = asyncio.get_running_loop().create_future()
        lane = self._lanes[1 if priority else 0]
        lane.pending.append(unit)
        lane.wakeup.set()
        if lane.task is None:
            self.start()
        return await unit.future

    async def aclose(self) -> None:
        """Commit what was handed over (the transaction under way included: its units have left
        `pending`, and its callers wait for their answer), then stop."""
        for lane in self._lanes:
            if lane.task is not None:
                while lane.pending or lane.committing:
                    await asyncio.sleep(0.001)
        for lane in self._lanes:
            await cancel_and_wait(lane.task)
            lane.task = None

    def _take(self, lane: _Lane) -> list[InsertUnit]:
        """The next transaction's units: up to the unit cap and (ordinary lane) the row cap."""
        if lane.priority:
            count = min(len(lane.pending), self._priority_max_units)
        else:
            count, rows = 0, 0
            for unit in lane.pending[: self._max_units]:
                rows += unit.size
                if count and rows > self._max_rows:
                    break
                count += 1
        units = lane.pending[:count]
        del lane.pending[:count]
        return units

    async def _run(self, lane: _Lane) -> None:
        while True:
            await lane.wakeup.wait()
            lane.wakeup.clear()
            while lane.pending:
                lane.committing = True
                try:
                    await self._commit_group(self._take(lane), lane.priority)
                finally:
                    lane.committing = False

    async def _commit_group(self, units: list[InsertUnit], priority: bool = False) -> None:
        try:
            async with self._db.write(priority=priority) as conn:
                results = await _insert_units(conn, units)
        except Exception as exc:  # noqa: BLE001 - isolate: retry each unit on its own
            if len(units) == 1:
                if not units[0].future.done():
                    units[0].future.set_exception(exc)
                return
            for unit in units:
                await self._commit_group([unit], priority)
            return
        self.transactions += 1
        self.units += len(units)
        for unit, result in zip(units, results, strict=True):
            if not unit.future.done():
                unit.future.set_result(result)


async def _insert_units(conn: AsyncConnection, units: list[InsertUnit]) -> list[dict[str, list[int]]]:
    order: list[Table] = []
    merged: dict[str, list[dict[str, Any]]] = {}
    for unit in units:
        for table, rows in unit.rows:
            if table.name not in merged:
                order.append(table)
                merged[table.name] = []
            merged[table.name].extend(rows)
    returned: dict[str, list[int]] = {}
    for table in order:
        rows = merged[table.name]
        if not rows:
            continue
        if any(table.name in u.returning for u in units):
            returned[table.name] = await _insert_returning_ids(conn, table, rows)
        else:
            await _insert(conn, table, rows)
    per_unit: list[dict[str, list[int]]] = []
    offsets = {name: 0 for name in returned}
    for unit in units:
        mine: dict[str, list[int]] = {}
        for table, rows in unit.rows:
            if table.name in returned:
                start = offsets[table.name]
                offsets[table.name] = start + len(rows)
                if table.name in unit.returning:
                    mine[table.name] = returned[table.name][start : start + len(rows)]
        per_unit.append(mine)
    return per_unit


async def _insert_returning_ids(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert the rows; their new ids in row order."""
    if conn.dialect.name != "sqlite":
        ids = [0] * len(rows)
        for group in _same_columns(rows):
            statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
            result = await conn.execute(statement, [rows[i] for i in group])
            for index, row in zip(group, result, strict=True):
                ids[index] = row[0]
        return ids
    # Under the single writer's lock: ids follow the current maximum, as SQLite's own rowid
    # allocation for an INTEGER PRIMARY KEY would.
    first = ((await conn.execute(_max_id(table))).scalar() or 0) + 1
    ids = list(range(first, first + len(rows)))
    await _insert(conn, table, [{**row, "id": i} for row, i in zip(rows, ids, strict=True)])
    return ids


def _same_columns(rows: list[dict[str, Any]]) -> list[list[int]]:
    """Row indexes grouped by the columns they name: an executemany takes its columns from its
    first row, so rows naming others (units from different callers) go in a statement of their own."""
    groups: dict[frozenset[str], list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(frozenset(row), []).append(index)
    return list(groups.values())


@functools.cache
def _max_id(table: Table) -> Select[Any]:
    """Built once per table (a `func.max` built per call was compiled anew each time)."""
    return select(func.max(table.c.id))


_PREPARED_INSERTS: dict[tuple[str, frozenset[str]], Prepared | None] = {}


async def _insert(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    """An executemany per set of columns; on the embedded profile prepared once per table and set
    of columns (SQLAlchemy's insert cost ~5 µs per delivery row and ~60 µs per batch row on top
    of SQLite's)."""
    inline = inline_sqlite(conn) is not None
    for group in _same_columns(rows):
        some = [rows[i] for i in group] if len(group) < len(rows) else rows
        prepared = _prepared_insert(table, frozenset(some[0])) if inline else None
        if prepared is None:
            await conn.execute(insert(table), some)
        else:
            await prepared.executemany(conn, some)


def _prepared_insert(table: Table, keys: frozenset[str]) -> Prepared | None:
    """INSERT of `keys`, other columns taking their scalar defaults as SQLAlchemy would; None
    when one has a default computed per row (left to SQLAlchemy)."""
    cache_key = (table.name, keys)
    if cache_key not in _PREPARED_INSERTS:
        values: dict[str, Any] = {name: bindparam(name) for name in sorted(keys)}
        prepared: Prepared | None = None
        for column in table.c:
            if column.name in values or column.default is None:
                continue
            if not column.default.is_scalar:
                break
            values[column.name] = column.default.arg  # type: ignore[attr-defined]
        else:
            prepared = Prepared(insert(table).values(values))
        _PREPARED_INSERTS[cache_key] = prepared
    return _PREPARED_INSERTS[cache_key]
