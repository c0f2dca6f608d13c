"""Which status changes become webhooks, and to which URL.

`per_recipient` batches report every change of a recipient, `per_recipient_final` only final
ones; `summary` and `full` batches are reported once, when the batch is done (see
`batch_reports`). The URL is the batch's `callback_url`, else its service plan's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.store import deliveries as dq
from tidings.webhooks import outbox, sms_events

if TYPE_CHECKING:
    from tidings.workers.writer import Transition

PER_RECIPIENT = "per_recipient"
PER_RECIPIENT_FINAL = "per_recipient_final"


async def recipient_reports(
    conn: AsyncConnection, transitions: Sequence[Transition], now: int,
    batches: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Webhook rows for the transitions; `batches`: their batch rows (`dq.load_batches`) when
    the caller has them already."""
    if not transitions:
        return []
    if batches is None:
        batches = await dq.load_batches(conn, list({t.batch_id for t in transitions}))
    rows = []
    for t in transitions:
        batch = batches.get(t.batch_id)
        if batch is None or batch.delivery_report not in (PER_RECIPIENT, PER_RECIPIENT_FINAL):
            continue
        if batch.delivery_report == PER_RECIPIENT_FINAL and not t.new.is_final:
            continue
        url = batch.callback_url or batch.plan_callback_url
        if not url:
            continue
        body = sms_events.recipient_delivery_report(
            batch_id=t.batch_id,
            recipient=t.recipient,
            status=t.new.value,
            code=t.code,
            at_ms=t.at_ms,
            client_reference=batch.client_reference,
        )
        rows.append(outbox.webhook_row(batch.project_id, url, "recipient_delivery_report_sms",
                                       orjson.dumps(body), now))
    return rows


def mo_webhook(inbound: dict[str, Any], url: str, now: int) -> dict[str, Any]:
    """The `mo_text` (or, for a binary inbound, `mo_binary`) callback of a stored inbound row."""
    if inbound["type"] == sms_events.MO_BINARY:
        body = sms_events.mo_binary(
            id=inbound["id"], sender=inbound["sender"], to=inbound["recipient"], body=inbound["body"],
            udh=inbound.get("udh"), received_at_ms=inbound["received_ms"],
        )
    else:
        body = sms_events.mo_text(
            id=inbound["id"],
            sender=inbound["sender"],
            to=inbound["recipient"],
            body=inbound["body"],
            received_at_ms=inbound["received_ms"],
        )
    return outbox.webhook_row(inbound["project_id"], url, body["type"], orjson.dumps(body), now)


async def enqueue(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await outbox.enqueue(conn, rows)
