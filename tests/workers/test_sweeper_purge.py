"""The sweeper deletes finished webhook outbox rows once they are past the retention period,
and keeps pending ones however old."""

from __future__ import annotations

from sqlalchemy import select

from tidings.actions.projects import do_create_project
from tidings.config import Settings
from tidings.queue.local import LocalDispatchQueue
from tidings.runtime.context import Context
from tidings.store.db import Database
from tidings.store.group_commit import GroupCommitter
from tidings.store.schema import webhook_outbox
from tidings.webhooks import outbox
from tidings.workers.sweeper import Sweeper
from tidings.workers.writer import OutcomeWriter

DAY_MS = 24 * 3600 * 1000
NOW = 1_800_000_000_000


async def test_purge_keeps_pending_and_recent_rows(any_db: Database) -> None:
    creds = await do_create_project(any_db, "p", NOW)
    ctx = Context(Settings(webhook_retention_seconds=7 * 24 * 3600), any_db, GroupCommitter(any_db),
                  LocalDispatchQueue(), lambda: NOW)
    rows = []
    for age_days, state in ((8, "delivered"), (8, "expired"), (8, "pending"), (6, "delivered")):
        row = outbox.webhook_row(creds.project_id, "http://127.0.0.1:9/hook", "mo_text", b"{}",
                                 NOW - age_days * DAY_MS)
        row["state"] = state
        rows.append(row)
    async with any_db.write() as conn:
        await outbox.enqueue(conn, rows)
    sweeper = Sweeper(ctx, OutcomeWriter(any_db, ctx.clock))
    assert await sweeper.purge_webhooks() == 2
    async with any_db.read() as conn:
        left = sorted((r.state, (NOW - r.created_ms) // DAY_MS)
                      for r in await conn.execute(select(webhook_outbox)))
    assert left == [("delivered", 6), ("pending", 8)]
