"""Receipts through the inbox (PostgreSQL): the SMSC's deliver_sm is answered once the receipt is
written to `receipt_inbox`, not after the writer's whole flush; the flush that applies it deletes
the row; a worker that dies in between leaves the row, and the sweeper applies it once it is
older than `receipt_inbox_grace_seconds`. On SQLite a receipt is applied before the answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.actions.batches import do_send
from tidings.actions.projects import do_create_project
from tidings.config import Settings
from tidings.core.statuses import Status
from tidings.queue.local import LocalDispatchQueue
from tidings.runtime.context import Context
from tidings.store.db import Database
from tidings.store.group_commit import GroupCommitter
from tidings.store.schema import deliveries, receipt_inbox
from tidings.workers import writer as writer_module
from tidings.workers.events import Dispatched, Event, Receipt
from tidings.workers.sweeper import Sweeper
from tidings.workers.writer import OutcomeWriter

NOW = 1_800_000_000_000
CONNECTION = "sandbox"


@pytest.fixture
async def ctx(any_db: Database) -> AsyncIterator[Context]:
    committer = GroupCommitter(any_db)
    committer.start()
    yield Context(Settings(receipt_inbox_grace_seconds=30.0), any_db, committer, LocalDispatchQueue(),
                  lambda: NOW)
    await committer.aclose()


async def dispatched(ctx: Context, writer: OutcomeWriter, smsc_id: str) -> int:
    creds = await do_create_project(ctx.db, "p", NOW)
    await do_send(ctx, creds.project_id, creds.service_plan_id,
                  {"from": "+46700000000", "to": ["+46701234567"], "body": "hi"})
    async with ctx.db.read() as conn:
        delivery_id = int((await conn.execute(select(deliveries.c.id))).scalar_one())
    await writer.apply([Dispatched(delivery_id, CONNECTION, [smsc_id], NOW)])
    return delivery_id


async def state(db: Database, delivery_id: int) -> tuple[str, int]:
    async with db.read() as conn:
        status = (await conn.execute(select(deliveries.c.status).where(deliveries.c.id == delivery_id))).scalar_one()
        inbox = (await conn.execute(select(func.count()).select_from(receipt_inbox))).scalar_one()
    return str(status), int(inbox)


def delivered(smsc_id: str, at: int = NOW + 10) -> Receipt:
    return Receipt(CONNECTION, smsc_id, Status.DELIVERED, 0, at)


def held_flushes(monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Flushes wait until the returned event is set."""
    release = asyncio.Event()
    apply_events = writer_module.apply_events

    async def held(conn: AsyncConnection, events: Sequence[Event], now: int, **options: Any) -> Any:
        await release.wait()
        return await apply_events(conn, events, now, **options)

    monkeypatch.setattr(writer_module, "apply_events", held)
    return release


async def test_a_receipt_is_answered_once_in_the_inbox_and_applied_by_a_later_flush(
        ctx: Context, profile: str, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = OutcomeWriter(ctx.db, ctx.clock)
    writer.start()
    try:
        delivery_id = await dispatched(ctx, writer, "m-1")
        assert writer.inbox is (profile == "distributed")
        release = held_flushes(monkeypatch)
        recorded = asyncio.ensure_future(writer.record_receipt(delivered("m-1")))
        if profile == "distributed":
            await asyncio.wait_for(recorded, 5.0)  # answered while no flush can commit
            assert await state(ctx.db, delivery_id) == ("Dispatched", 1)
        else:
            await asyncio.sleep(0.2)
            assert not recorded.done()  # SQLite: answered only once applied
        release.set()
        await asyncio.wait_for(recorded, 5.0)
        await writer.drain()
        assert await state(ctx.db, delivery_id) == ("Delivered", 0)
    finally:
        await writer.aclose()


@pytest.mark.parametrize("profile", ["distributed"])
async def test_a_receipt_answered_by_a_worker_that_died_is_applied_by_the_sweeper(
        ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = OutcomeWriter(ctx.db, ctx.clock)
    writer.start()
    delivery_id = await dispatched(ctx, writer, "m-2")
    held_flushes(monkeypatch)  # never released: the worker dies before its flush commits
    await asyncio.wait_for(writer.record_receipt(delivered("m-2")), 5.0)
    await writer.aclose(timeout=0.1)
    monkeypatch.undo()
    assert await state(ctx.db, delivery_id) == ("Dispatched", 1)

    survivor = OutcomeWriter(ctx.db, ctx.clock)
    survivor.start()
    try:
        # Within the grace period the row may still be its own writer's to apply: left alone.
        assert await Sweeper(ctx, survivor).apply_inbox_left_behind() == 0
        later = replace(ctx, clock=lambda: NOW + 31_000)
        assert await Sweeper(later, survivor).apply_inbox_left_behind() == 1
        assert await state(ctx.db, delivery_id) == ("Delivered", 0)
        assert await Sweeper(later, survivor).apply_inbox_left_behind() == 0
    finally:
        await survivor.aclose()


@pytest.mark.parametrize("profile", ["distributed"])
async def test_a_receipt_applied_twice_changes_nothing_the_second_time(ctx: Context) -> None:
    """The sweeper may apply a row its own writer is about to apply (that writer lagging past the
    grace period): the second application is a duplicate receipt."""
    writer = OutcomeWriter(ctx.db, ctx.clock)
    writer.start()
    try:
        delivery_id = await dispatched(ctx, writer, "m-3")
        await writer.record_receipt(delivered("m-3"))
        await writer.drain()
        async with ctx.db.read() as conn:
            before = (await conn.execute(select(deliveries.c.status, deliveries.c.status_ms)
                                         .where(deliveries.c.id == delivery_id))).one()
        await writer.apply([replace(delivered("m-3", NOW + 500), inbox_id=12345)])
        async with ctx.db.read() as conn:
            after = (await conn.execute(select(deliveries.c.status, deliveries.c.status_ms)
                                        .where(deliveries.c.id == delivery_id))).one()
        assert tuple(after) == tuple(before) and before[0] == "Delivered"
    finally:
        await writer.aclose()
