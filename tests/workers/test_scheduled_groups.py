"""The sweeper's side of scheduled batches to groups, in both profiles: two sweepers (two workers,
each with its own database pool on PostgreSQL) expanding the same due batches at once write each
member's delivery once; a batch whose groups still wait is not reported as done, not closed for
receipts and not purged by retention, however old; once expanded (here: expired before it could
be) it is all of those in turn."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator

import orjson
import pytest
from sqlalchemy import func, select

from tidings.actions import scheduled_groups
from tidings.actions.batches import do_send
from tidings.actions.groups import do_create_group, do_replace_group
from tidings.actions.projects import do_create_project
from tidings.config import Settings
from tidings.queue.local import LocalDispatchQueue
from tidings.runtime.context import Context
from tidings.store import deliveries as dq
from tidings.store.db import Database
from tidings.store.group_commit import GroupCommitter
from tidings.store.schema import batches, deliveries, webhook_outbox
from tidings.workers import batch_reports
from tidings.workers.sweeper import Sweeper
from tidings.workers.writer import OutcomeWriter

from .test_retention import DAY_MS, RETENTION_DAYS, Clock

HOUR_MS = 3600 * 1000


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")


async def context(db: Database, clock: Clock) -> Context:
    committer = GroupCommitter(db)
    committer.start()
    settings = Settings(message_retention_seconds=RETENTION_DAYS * 24 * 3600)
    return Context(settings, db, committer, LocalDispatchQueue(), clock)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def ctx(any_db: Database, clock: Clock) -> AsyncIterator[Context]:
    ctx = await context(any_db, clock)
    yield ctx
    await ctx.committer.aclose()


async def sweeper(ctx: Context) -> AsyncIterator[Sweeper]:
    writer = OutcomeWriter(ctx.db, ctx.clock)
    writer.start()
    try:
        yield Sweeper(ctx, writer)
    finally:
        await writer.aclose()


async def count(db: Database, *where: object) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(deliveries).where(*where))).scalar_one())


async def test_two_sweepers_at_once_expand_each_batch_once(
    ctx: Context, clock: Clock, profile: str, any_db: Database,
) -> None:
    project = (await do_create_project(ctx.db, "race", clock())).project_id
    sent = []
    for b in range(20):
        members = [f"+4670{b:03d}{i:04d}" for i in range(3)]
        group = await do_create_group(ctx, project, {"members": members})
        result = await do_send(ctx, project, None, {"from": "Shop", "body": "hi", "to": [group.id, members[0]],
                                                    "send_at": iso(clock() + HOUR_MS)})
        sent.append(result.batch.id)
    assert await count(ctx.db) == 20
    clock.ms += HOUR_MS

    # Another worker: on PostgreSQL its own pool (connections, transactions), as `tidings worker`.
    other_db = Database(any_db.url) if profile == "distributed" else any_db
    other = await context(other_db, clock)
    try:
        async for first in sweeper(ctx):
            async for second in sweeper(other):
                counts = await asyncio.gather(*(s.expand_scheduled_groups() for s in (first, second, first, second)))
        assert sum(counts) == 20
    finally:
        await other.committer.aclose()
        if other_db is not any_db:
            await other_db.aclose()
    async with ctx.db.read() as conn:
        pairs = list(await conn.execute(select(deliveries.c.batch_id, deliveries.c.recipient)))
        waiting = (await conn.execute(
            select(func.count()).select_from(batches).where(batches.c.expand_groups_ms.is_not(None)))).scalar_one()
    assert len(pairs) == len(set(pairs)) == 60
    assert {batch_id for batch_id, _ in pairs} == set(sent)
    assert waiting == 0


async def test_a_waiting_batch_is_not_done_closed_or_purged_until_expanded(ctx: Context, clock: Clock) -> None:
    project = (await do_create_project(ctx.db, "wait", clock())).project_id
    group = await do_create_group(ctx, project, {"members": ["+46701000001", "+46701000002"]})
    result = await do_send(ctx, project, None, {
        "from": "Shop", "body": "hi", "to": [group.id], "delivery_report": "summary",
        "callback_url": "https://example.com/cb",
        "send_at": iso(clock() + HOUR_MS), "expire_at": iso(clock() + 2 * HOUR_MS)})
    batch_id = result.batch.id
    # No recipient yet, so "every recipient final" would hold: the batch is still not done.
    clock.ms += (RETENTION_DAYS + 5) * DAY_MS
    async for s in sweeper(ctx):
        # Not expanded yet (the sweeper was down all along): not reported, closed, nor purged.
        assert await s.purge_old_messages() == (0, 0)
        async with ctx.db.read() as conn:
            assert batch_id not in [b.id for b in await dq.done_batches_awaiting_report(conn, 100)]
            assert batch_id not in await dq.batches_past_receipt_deadline(conn, clock(), 100)
            assert (await conn.execute(select(func.count()).select_from(batches))).scalar_one() == 1

        # The expansion finds expire_at long past: the members expire, never sent; the batch is
        # done and reported with them.
        assert await s.expand_scheduled_groups() == 1
        async with ctx.db.read() as conn:
            rows = list(await conn.execute(select(deliveries.c.recipient, deliveries.c.status, deliveries.c.code)
                                           .order_by(deliveries.c.id)))
        assert [tuple(r) for r in rows] == [("+46701000001", "Expired", 406), ("+46701000002", "Expired", 406)]
        async with ctx.db.read() as conn:
            assert batch_id in [b.id for b in await dq.done_batches_awaiting_report(conn, 100)]
        assert await batch_reports.report_done_batches(ctx) == 1
        async with ctx.db.read() as conn:
            [body] = [orjson.loads(r[0]) for r in await conn.execute(select(webhook_outbox.c.body))]
        assert (body["type"], body["total_message_count"], body["statuses"]) == (
            "delivery_report_sms", 2, [{"code": 406, "count": 2, "status": "Expired"}])
        # And now old enough and final: purged.
        assert await s.purge_old_messages() == (2, 0)
    assert await count(ctx.db) == 0


async def test_a_batch_that_cannot_be_expanded_does_not_hold_up_the_others(ctx: Context, clock: Clock) -> None:
    """A fault in one batch's expansion (here: its stored `to` damaged) writes nothing for it and
    postpones it; the batches due behind it are expanded and published meanwhile."""
    project = (await do_create_project(ctx.db, "poison", clock())).project_id
    group = await do_create_group(ctx, project, {"members": ["+46701000011", "+46701000012"]})
    bad = (await do_send(ctx, project, None, {"from": "Shop", "body": "hi", "to": [group.id],
                                              "send_at": iso(clock() + HOUR_MS)})).batch.id
    good = (await do_send(ctx, project, None, {"from": "Shop", "body": "hi", "to": [group.id],
                                               "send_at": iso(clock() + HOUR_MS + 1)})).batch.id
    async with ctx.db.write() as conn:
        await conn.execute(batches.update().where(batches.c.id == bad).values(requested_to=5))
    clock.ms += HOUR_MS + 1
    async for s in sweeper(ctx):
        assert await s.expand_scheduled_groups() == 1
        await s.publish_due()
        async with ctx.db.read() as conn:
            rows = list(await conn.execute(select(deliveries.c.batch_id, deliveries.c.published_ms)))
            mark = (await conn.execute(select(batches.c.expand_groups_ms).where(batches.c.id == bad))).scalar_one()
        assert [r.batch_id for r in rows] == [good, good] and all(r.published_ms is not None for r in rows)
        assert mark == clock() + scheduled_groups.RETRY_MS

        clock.ms += scheduled_groups.RETRY_MS - 1
        assert await s.expand_scheduled_groups() == 0  # not due again yet
        async with ctx.db.write() as conn:  # repaired
            await conn.execute(batches.update().where(batches.c.id == bad).values(requested_to=[group.id]))
        clock.ms += 1
        assert await s.expand_scheduled_groups() == 1
    assert await count(ctx.db, deliveries.c.batch_id == bad) == 2


async def test_groups_emptied_before_send_at_send_nothing_and_say_so(
    ctx: Context, clock: Clock, caplog: pytest.LogCaptureFixture,
) -> None:
    project = (await do_create_project(ctx.db, "emptied", clock())).project_id
    group = await do_create_group(ctx, project, {"members": ["+46701000021"]})
    batch_id = (await do_send(ctx, project, None, {"from": "Shop", "body": "hi", "to": [group.id],
                                                   "send_at": iso(clock() + HOUR_MS)})).batch.id
    await do_replace_group(ctx, project, group.id, {"members": []})
    clock.ms += HOUR_MS
    async for s in sweeper(ctx):
        with caplog.at_level(logging.INFO, logger="tidings.actions.scheduled_groups"):
            assert await s.expand_scheduled_groups() == 1
    assert f"batch {batch_id}: its groups had no members at its send_at; nothing sent" in caplog.text
    assert await count(ctx.db) == 0
    async with ctx.db.read() as conn:
        mark = (await conn.execute(select(batches.c.expand_groups_ms).where(batches.c.id == batch_id))).scalar_one()
    assert mark is None
