"""The embedded profile started on a data directory a dead process left: the leases that
process held (a webhook being posted, a Conversation API message being acted on …) are released
at the start, so their work resumes at once instead of a lease (60 s) later."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import insert, select

from tidings.store.leases import LEASED
from tidings.store.schema import metadata, webhook_outbox
from tidings.testing.platform import running_platform
from tidings.webhooks.outbox import DELIVERED, webhook_row
from tidings.webhooks.testing import WebhookReceiver


def test_every_table_with_a_lease_is_released_but_those_that_are_not_leases() -> None:
    """A table given a `claimed_ms` lease later must be added to `LEASED` (or here, with why)."""
    with_claims = {table.name for table in metadata.sorted_tables if "claimed_ms" in table.c}
    # deliveries: released with the in-process queue's republish; smpp_submit_parts: claimed for good.
    assert with_claims == {t.name for t, _ in LEASED} | {"deliveries", "smpp_submit_parts"}


async def test_a_webhook_held_by_a_dead_process_is_posted_right_after_the_restart(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    receiver = WebhookReceiver()
    await receiver.start()
    try:
        async with running_platform("embedded", data_dir) as first:
            now = first.ctx.clock()
            row = webhook_row(first.creds.project_id, receiver.url, "mo_text", b'{"type":"mo_text"}', now)
            # What a process killed while posting it leaves: pending, its lease just taken.
            async with first.ctx.db.write() as conn:
                await conn.execute(insert(webhook_outbox).values(**{**row, "claimed_ms": now, "attempts": 1}))
        assert receiver.requests == []  # the lease held it through the first process's life

        started = time.monotonic()
        async with running_platform("embedded", data_dir) as second:
            await receiver.wait_for(1, timeout=10.0)
            waited = time.monotonic() - started
            async with second.ctx.db.read() as conn:
                state = (await conn.execute(select(webhook_outbox.c.state))).scalar_one()
        assert receiver.bodies == [b'{"type":"mo_text"}']
        assert waited < 30, waited  # not the sender lease (at least 60 s) later
        assert state == DELIVERED
    finally:
        await receiver.stop()
