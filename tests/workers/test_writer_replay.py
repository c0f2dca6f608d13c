"""A flush whose commit went through though the writer saw an error (the connection to
PostgreSQL dropped while COMMIT was answered) is retried: applying its events again must
succeed and change nothing, or the writer retries forever and every event behind it waits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

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
from tidings.workers.writer import OutcomeWriter

NOW = 1_800_000_000_000
CONNECTION = "sandbox"


class LostCommitAnswers:
    """A database whose next `drops` writes commit, then raise as a dropped connection would."""

    def __init__(self, db: Database, drops: int) -> None:
        self.db = db
        self.is_sqlite = db.is_sqlite
        self.drops = drops

    @contextlib.asynccontextmanager
    async def write(self, *, priority: bool = False) -> AsyncIterator[Any]:
        async with self.db.write(priority=priority) as conn:
            yield conn
        if self.drops:
            self.drops -= 1
            raise ConnectionResetError("connection lost while COMMIT was answered")


@pytest.fixture
async def ctx(any_db: Database) -> AsyncIterator[Context]:
    committer = GroupCommitter(any_db)
    committer.start()
    yield Context(Settings(), any_db, committer, LocalDispatchQueue(), lambda: NOW)
    await committer.aclose()


async def test_a_flush_committed_but_reported_failed_is_retried_without_sticking(ctx: Context) -> None:
    creds = await do_create_project(ctx.db, "p", NOW)
    await do_send(ctx, creds.project_id, creds.service_plan_id,
                  {"from": "+46700000000", "to": ["+46701234567"], "body": "hi",
                   "delivery_report": "per_recipient", "callback_url": "http://127.0.0.1:9/cb"})
    async with ctx.db.read() as conn:
        delivery_id = int((await conn.execute(select(deliveries.c.id))).scalar_one())

    writer = OutcomeWriter(LostCommitAnswers(ctx.db, drops=1), ctx.clock)  # type: ignore[arg-type]
    writer.start()
    try:
        writer.add(Dispatched(delivery_id, CONNECTION, ["m-1", "m-2"], NOW))
        await asyncio.wait_for(writer.drain(), 5)
        # The writer goes on: a receipt behind it is committed (deliver_sm_resp is not held up).
        await asyncio.wait_for(writer.apply([Receipt(CONNECTION, "m-1", Status.DELIVERED, 0, NOW + 1),
                                             Receipt(CONNECTION, "m-2", Status.DELIVERED, 0, NOW + 1)]), 5)
    finally:
        await writer.aclose(timeout=1)

    async with ctx.db.read() as conn:
        status = (await conn.execute(select(deliveries.c.status))).scalar_one()
        parts = (await conn.execute(select(submissions.c.smsc_message_id, submissions.c.delivery_id)
                                    .order_by(submissions.c.part))).all()
        webhooks = (await conn.execute(select(func.count()).select_from(webhook_outbox))).scalar_one()
    assert status == "Delivered"
    assert [tuple(p) for p in parts] == [("m-1", delivery_id), ("m-2", delivery_id)]
    assert webhooks == 2  # Dispatched, Delivered: the replayed flush queued no webhook again
