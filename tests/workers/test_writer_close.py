"""A stopping outcome writer commits what it was handed, including the flush under way when the
stop came: those events (a submission's SMSC id, a receipt) are not lost to the stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.actions.batches import do_send
from tidings.actions.projects import do_create_project
from tidings.config import Settings
from tidings.queue.local import LocalDispatchQueue
from tidings.runtime.context import Context
from tidings.store.db import Database
from tidings.store.group_commit import GroupCommitter
from tidings.store.schema import deliveries, submissions
from tidings.workers import writer as writer_module
from tidings.workers.events import Dispatched, Event
from tidings.workers.writer import OutcomeWriter

NOW = 1_800_000_000_000


@pytest.fixture
async def ctx(any_db: Database) -> AsyncIterator[Context]:
    committer = GroupCommitter(any_db)
    committer.start()
    yield Context(Settings(), any_db, committer, LocalDispatchQueue(), lambda: NOW)
    await committer.aclose()


async def queued_delivery(ctx: Context) -> int:
    creds = await do_create_project(ctx.db, "p", NOW)
    await do_send(ctx, creds.project_id, creds.service_plan_id,
                  {"from": "+46700000000", "to": ["+46701234567"], "body": "hi"})
    async with ctx.db.read() as conn:
        return int((await conn.execute(select(deliveries.c.id))).scalar_one())


def slow_flushes(monkeypatch: pytest.MonkeyPatch, seconds: float) -> asyncio.Event:
    """Each flush's transaction takes `seconds` longer; the event is set when one begins."""
    began = asyncio.Event()
    apply_events = writer_module.apply_events

    async def slow(conn: AsyncConnection, events: Sequence[Event], now: int, **options: Any) -> Any:
        began.set()
        await asyncio.sleep(seconds)
        return await apply_events(conn, events, now, **options)

    monkeypatch.setattr(writer_module, "apply_events", slow)
    return began


async def test_a_stop_during_a_flush_waits_for_its_commit(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    delivery_id = await queued_delivery(ctx)
    began = slow_flushes(monkeypatch, 0.3)
    writer = OutcomeWriter(ctx.db, ctx.clock)
    writer.start()
    writer.add(Dispatched(delivery_id, "sandbox", ["m-1"], NOW))
    await asyncio.wait_for(began.wait(), 5.0)  # the event has left the queue: the flush is under way
    await writer.aclose()
    async with ctx.db.read() as conn:
        status = (await conn.execute(select(deliveries.c.status).where(deliveries.c.id == delivery_id))).scalar_one()
        smsc_ids = (await conn.execute(select(submissions.c.smsc_message_id))).scalars().all()
    assert (status, smsc_ids) == ("Dispatched", ["m-1"])


async def test_drain_returns_once_the_flush_under_way_is_committed(ctx: Context,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    delivery_id = await queued_delivery(ctx)
    began = slow_flushes(monkeypatch, 0.3)
    writer = OutcomeWriter(ctx.db, ctx.clock)
    writer.start()
    try:
        writer.add(Dispatched(delivery_id, "sandbox", ["m-2"], NOW))
        await asyncio.wait_for(began.wait(), 5.0)
        await writer.drain()
        assert writer.flushes == 1
    finally:
        await writer.aclose()


async def test_a_stop_gives_up_on_a_database_that_stays_down(ctx: Context, monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """The events are then recovered as after a crash; the stop itself does not hang."""
    delivery_id = await queued_delivery(ctx)
    began = slow_flushes(monkeypatch, 3600.0)
    writer = OutcomeWriter(ctx.db, ctx.clock)
    writer.start()
    writer.add(Dispatched(delivery_id, "sandbox", ["m-3"], NOW))
    await asyncio.wait_for(began.wait(), 5.0)
    await asyncio.wait_for(writer.aclose(timeout=0.2), 5.0)
    assert "1 events not committed" in caplog.text
