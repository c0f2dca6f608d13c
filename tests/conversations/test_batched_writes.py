"""WriteBatcher: concurrent writes share one transaction; a failing one does not fail the rest."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.conversations.batched_writes import WriteBatcher
from tidings.store.conversation_schema import conv_channel_events
from tidings.store.db import Database


def _row(n: int) -> dict[str, object]:
    return {"kind": "status", "body": {"n": n}, "received_ms": n, "due_ms": n, "tries": 0,
            "claimed_ms": None, "processed_ms": 1}


async def _count(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(conv_channel_events))).scalar() or 0)


async def test_concurrent_writes_commit_together(any_db: Database) -> None:
    batcher = WriteBatcher(any_db)
    before = await _count(any_db)

    def insert(n: int):  # noqa: ANN202
        async def work(conn: AsyncConnection) -> int:
            await conn.execute(conv_channel_events.insert().values(**_row(n)))
            return n
        return work

    results = await asyncio.gather(*(batcher.run(insert(n)) for n in range(50)))
    assert results == list(range(50))
    assert await _count(any_db) == before + 50
    assert batcher.transactions == 1


async def test_one_failure_is_isolated(any_db: Database) -> None:
    batcher = WriteBatcher(any_db)
    before = await _count(any_db)

    async def good(conn: AsyncConnection) -> str:
        await conn.execute(conv_channel_events.insert().values(**_row(7)))
        return "ok"

    async def bad(conn: AsyncConnection) -> str:
        await conn.execute(conv_channel_events.insert().values(**_row(8)))
        raise ValueError("boom")

    outcomes = await asyncio.gather(batcher.run(good), batcher.run(bad), batcher.run(good),
                                    return_exceptions=True)
    assert outcomes[0] == "ok" and outcomes[2] == "ok"
    assert isinstance(outcomes[1], ValueError)
    assert await _count(any_db) == before + 2  # the failed one's row was rolled back


async def test_later_calls_get_the_next_transaction(any_db: Database) -> None:
    batcher = WriteBatcher(any_db)

    async def noop(conn: AsyncConnection) -> None:
        return None

    await batcher.run(noop)
    await batcher.run(noop)
    assert batcher.transactions == 2
    with pytest.raises(RuntimeError):
        async def fails(conn: AsyncConnection) -> None:
            raise RuntimeError("alone")
        await batcher.run(fails)
