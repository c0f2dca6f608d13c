"""A receipt kept as an orphan (it came before its submission was committed by another worker)
is matched by the sweeper once the submission exists, and is never lost on the way: a sweeper
that dies between finding it and recording it leaves it for the next one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from tidings.actions.batches import do_send
from tidings.actions.projects import do_create_project
from tidings.config import Settings
from tidings.core.statuses import Status
from tidings.queue.local import LocalDispatchQueue
from tidings.runtime.context import Context
from tidings.store import receipts as rq
from tidings.store.db import Database
from tidings.store.group_commit import GroupCommitter
from tidings.store.schema import deliveries, orphan_receipts
from tidings.workers.events import Dispatched, Event
from tidings.workers.sweeper import Sweeper
from tidings.workers.writer import OutcomeWriter

NOW = 1_800_000_000_000
CONNECTION = "sandbox"


class KilledWriter(OutcomeWriter):
    """A writer whose process dies before it commits anything."""

    async def apply(self, events: Sequence[Event]) -> None:
        raise ConnectionError("process killed")


@pytest.fixture
async def ctx(any_db: Database) -> AsyncIterator[Context]:
    committer = GroupCommitter(any_db)
    committer.start()
    yield Context(Settings(), any_db, committer, LocalDispatchQueue(), lambda: NOW)
    await committer.aclose()


@pytest.fixture
async def writer(ctx: Context) -> AsyncIterator[OutcomeWriter]:
    writer = OutcomeWriter(ctx.db, ctx.clock)
    writer.start()
    yield writer
    await writer.aclose()


async def dispatched_with_an_orphan_receipt(ctx: Context, writer: OutcomeWriter) -> int:
    """A delivery Dispatched as SMSC message "m-1", whose Delivered receipt was stored as an orphan
    by a transaction that ran alongside the one recording the submission."""
    creds = await do_create_project(ctx.db, "p", NOW)
    await do_send(ctx, creds.project_id, creds.service_plan_id,
                  {"from": "+46700000000", "to": ["+46701234567"], "body": "hi"})
    async with ctx.db.read() as conn:
        delivery_id = (await conn.execute(select(deliveries.c.id))).scalar_one()
    await writer.apply([Dispatched(delivery_id, CONNECTION, ["m-1"], NOW)])
    async with ctx.db.write() as conn:
        await rq.insert_orphans(conn, [{"connection": CONNECTION, "smsc_message_id": "m-1",
                                        "status": Status.DELIVERED.value, "code": 0, "received_ms": NOW + 5}])
    return delivery_id


async def status_and_orphans(db: Database, delivery_id: int) -> tuple[str, int]:
    async with db.read() as conn:
        status = (await conn.execute(select(deliveries.c.status).where(deliveries.c.id == delivery_id))).scalar_one()
        orphans = (await conn.execute(select(func.count()).select_from(orphan_receipts))).scalar_one()
    return status, orphans


async def test_the_sweeper_matches_an_orphan_receipt_once_its_submission_exists(
        ctx: Context, writer: OutcomeWriter) -> None:
    delivery_id = await dispatched_with_an_orphan_receipt(ctx, writer)
    assert await status_and_orphans(ctx.db, delivery_id) == ("Dispatched", 1)
    assert await Sweeper(ctx, writer).rematch_orphans() == 1
    assert await status_and_orphans(ctx.db, delivery_id) == ("Delivered", 0)
    assert await Sweeper(ctx, writer).rematch_orphans() == 0


async def test_a_sweeper_killed_before_recording_the_receipt_leaves_it_for_the_next(
        ctx: Context, writer: OutcomeWriter) -> None:
    delivery_id = await dispatched_with_an_orphan_receipt(ctx, writer)
    with pytest.raises(ConnectionError):
        await Sweeper(ctx, KilledWriter(ctx.db, ctx.clock)).rematch_orphans()
    assert await status_and_orphans(ctx.db, delivery_id) == ("Dispatched", 1)
    assert await Sweeper(ctx, writer).rematch_orphans() == 1
    assert await status_and_orphans(ctx.db, delivery_id) == ("Delivered", 0)


async def orphan_count(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(orphan_receipts))).scalar_one())


async def test_receipts_no_submission_matches_are_dropped_after_the_retention(ctx: Context) -> None:
    """A receipt for a message id we never recorded (another system on the SMSC account) would
    stay for good, and every rematch would read it again."""
    retention_ms = int(ctx.settings.orphan_receipt_seconds * 1000)
    async with ctx.db.write() as conn:
        await rq.insert_orphans(conn, [
            {"connection": CONNECTION, "smsc_message_id": f"foreign-{i}", "status": Status.DELIVERED.value,
             "code": 0, "received_ms": received}
            for i, received in enumerate([NOW - retention_ms - 1, NOW - retention_ms - 60_000, NOW - 1000])
        ])
    sweeper = Sweeper(ctx, OutcomeWriter(ctx.db, ctx.clock))
    assert await sweeper.drop_stale_orphans() == 2
    assert await orphan_count(ctx.db) == 1
    assert await sweeper.drop_stale_orphans() == 0


async def test_an_old_orphan_that_matches_is_applied_not_dropped(ctx: Context, writer: OutcomeWriter) -> None:
    delivery_id = await dispatched_with_an_orphan_receipt(ctx, writer)
    late = replace(ctx.settings, orphan_receipt_seconds=0.001)
    sweeper = Sweeper(Context(late, ctx.db, ctx.committer, ctx.dispatch, lambda: NOW + 1000), writer)
    assert await sweeper.rematch_orphans() == 1
    assert await sweeper.drop_stale_orphans() == 0
    assert await status_and_orphans(ctx.db, delivery_id) == ("Delivered", 0)
