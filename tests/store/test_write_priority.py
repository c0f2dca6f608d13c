"""The SQLite write lock's priority lane and the group committer's lanes and row cap."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from tidings.actions.projects import do_create_project
from tidings.store import schema
from tidings.store.db import Database, PriorityLock
from tidings.store.group_commit import GroupCommitter

from .test_group_commit import _batch, _delivery


async def test_priority_waiters_go_before_ordinary_ones_in_arrival_order() -> None:
    lock = PriorityLock()
    order: list[str] = []
    await lock.acquire()

    async def waiter(name: str, priority: bool) -> None:
        await lock.acquire(priority)
        order.append(name)
        await asyncio.sleep(0)
        lock.release()

    tasks = [asyncio.create_task(waiter(n, p)) for n, p in
             (("bulk1", False), ("code1", True), ("bulk2", False), ("code2", True))]
    await asyncio.sleep(0.01)
    assert order == []
    lock.release()
    await asyncio.gather(*tasks)
    assert order == ["code1", "code2", "bulk1", "bulk2"]
    assert not lock.locked()


async def test_a_cancelled_waiter_neither_holds_nor_blocks_the_lock() -> None:
    lock = PriorityLock()
    await lock.acquire()
    cancelled = asyncio.create_task(lock.acquire(True))
    later = asyncio.create_task(lock.acquire(False))
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.sleep(0)
    lock.release()
    await asyncio.wait_for(later, 1)
    assert lock.locked()
    lock.release()
    assert not lock.locked()


async def test_a_priority_write_overtakes_queued_ordinary_writes(tmp_path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/t.db")
    await db.create_schema()
    order: list[str] = []
    gate = asyncio.Event()

    async def holder() -> None:
        async with db.write():
            order.append("holder")
            await gate.wait()

    async def writer(name: str, priority: bool) -> None:
        async with db.write(priority=priority):
            order.append(name)

    first = asyncio.create_task(holder())
    await asyncio.sleep(0.01)
    others = [asyncio.create_task(writer("bulk", False)), asyncio.create_task(writer("code", True))]
    await asyncio.sleep(0.01)
    gate.set()
    await asyncio.gather(first, *others)
    await db.aclose()
    assert order == ["holder", "code", "bulk"]


async def test_ordinary_transactions_are_bounded_by_rows_and_priority_units_commit_apart(any_db: Database) -> None:
    project = await do_create_project(any_db, "p", 1)
    committer = GroupCommitter(any_db, max_rows=250)

    async def unit(bid: str, n: int, priority: bool = False) -> list[int]:
        rows = [_delivery(bid, project.project_id, f"+46700{j:06d}") for j in range(n)]
        result = await committer.insert([(schema.batches, [_batch(bid, project.project_id)]),
                                         (schema.deliveries, rows)], returning=frozenset({"deliveries"}),
                                        priority=priority)
        return result["deliveries"]

    bulk = [unit(f"BULK{i}", 100) for i in range(10)]  # 101 rows each: two per transaction
    results = await asyncio.gather(*bulk, unit("CODE", 1, priority=True))
    await committer.aclose()
    assert committer.units == 11
    assert committer.transactions >= 6  # 10 bulk units at 2 per transaction, plus the code's own
    assert len({i for ids in results for i in ids}) == 1001
    async with any_db.read() as conn:
        owner = dict((await conn.execute(select(schema.deliveries.c.id, schema.deliveries.c.batch_id))).all())
    assert [owner[i] for i in results[-1]] == ["CODE"]
