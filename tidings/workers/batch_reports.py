"""Batch-level delivery reports (`summary`, `full`): one webhook when every recipient is final."""

from __future__ import annotations

import orjson

from tidings.runtime.context import Context
from tidings.store import deliveries as dq
from tidings.webhooks import outbox, sms_events

BATCHES_PER_ROUND = 100


async def report_done_batches(ctx: Context) -> int:
    async with ctx.db.read() as conn:
        done = await dq.done_batches_awaiting_report(conn, BATCHES_PER_ROUND)
    reported = 0
    for batch in done:
        url = batch.callback_url or batch.plan_callback_url
        async with ctx.db.write() as conn:
            now = ctx.clock()
            if not await dq.mark_reported(conn, batch.id, now):
                continue  # another worker reported it
            if not url:
                continue
            full = batch.delivery_report == "full"
            counts = await dq.status_counts(conn, batch.id, with_recipients=full)
            body = sms_events.batch_delivery_report(
                batch_id=batch.id,
                report_type=batch.delivery_report,
                total_message_count=batch.recipient_count,
                statuses=counts,
                client_reference=batch.client_reference,
            )
            await outbox.enqueue(conn, [outbox.webhook_row(batch.project_id, url, "delivery_report_sms",
                                                           orjson.dumps(body), now)])
            reported += 1
    return reported
