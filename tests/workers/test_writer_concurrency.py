"""The outcome writer's flushes in two processes at once (PostgreSQL): what each one decides
from rows the other is changing must not leave a message stuck or change it twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from tidings.actions.batches import do_send
from tidings.actions.projects import do_create_project
from tidings.config import Settings
from tidings.core.statuses import Status
from tidings.queue.local import LocalDispatchQueue
from tidings.runtime.context import Context
from tidings.store.db import Database
from tidings.store.group_commit import GroupCommitter
from tidings.store.schema import deliveries, submissions, webhook_outbox
from tidings.workers.events import Dispatched, Receipt
from tidings.workers.writer import apply_events

NOW = 1_800_000_000_000
CONNECTION = "sandbox"


@pytest.fixture
def profile() -> str:
    return "distributed"  # concurrent transactions: what PostgreSQL runs and SQLite's one writer cannot


@pytest.fixture
async def ctx(any_db: Database) -> AsyncIterator[Context]:
    committer = GroupCommitter(any_db)
    committer.start()
    yield Context(Settings(), any_db, committer, LocalDispatchQueue(), lambda: NOW)
    await committer.aclose()


async def one_delivery(ctx: Context, **extra: object) -> int:
    creds = await do_create_project(ctx.db, "p", NOW)
    await do_send(ctx, creds.project_id, creds.service_plan_id,
                  {"from": "+46700000000", "to": ["+46701234567"], "body": "hi", **extra})
    async with ctx.db.read() as conn:
        return int((await conn.execute(select(deliveries.c.id))).scalar_one())


async def status_of(db: Database, delivery_id: int) -> str:
    async with db.read() as conn:
        return str((await conn.execute(select(deliveries.c.status).where(deliveries.c.id == delivery_id))).scalar_one())


async def test_receipts_for_two_parts_flushed_by_two_writers_at_once_deliver_the_message(ctx: Context) -> None:
    """The receipts of a concatenated message's parts come over different SMPP sessions, so to
    different workers. Each writer recorded its part, then read the parts without waiting for the
    other's transaction: each saw the other part still Dispatched, and the message stayed
    Dispatched (Unknown once the receipt wait was over) though every part was delivered."""
    delivery_id = await one_delivery(ctx, delivery_report="per_recipient", callback_url="http://127.0.0.1:9/cb")
    async with ctx.db.write() as conn:
        await apply_events(conn, [Dispatched(delivery_id, CONNECTION, ["m-1", "m-2"], NOW)], NOW)

    second_done = asyncio.Event()

    async def second_writer() -> None:
        async with ctx.db.write() as conn:
            await apply_events(conn, [Receipt(CONNECTION, "m-2", Status.DELIVERED, 0, NOW + 2)], NOW + 2)
        second_done.set()

    async with ctx.db.write() as conn:
        await apply_events(conn, [Receipt(CONNECTION, "m-1", Status.DELIVERED, 0, NOW + 1)], NOW + 1)
        second = asyncio.create_task(second_writer())
        await asyncio.sleep(0.5)  # the other worker's flush runs meanwhile (and must wait for this one)
    await asyncio.wait_for(second, 10)

    assert await status_of(ctx.db, delivery_id) == "Delivered"
    async with ctx.db.read() as conn:
        parts = (await conn.execute(select(submissions.c.status))).scalars().all()
        webhooks = (await conn.execute(select(func.count()).select_from(webhook_outbox))).scalar_one()
    assert sorted(parts) == ["Delivered", "Delivered"]
    assert webhooks == 2  # Dispatched and Delivered, each once
