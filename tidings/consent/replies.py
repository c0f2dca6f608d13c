"""Replies the platform sends on its own (keyword confirmations, HELP, double opt-in requests),
through the SMS pipeline: a batch with purpose "system" (never refused by consent) and one Queued
delivery, inserted in the caller's transaction and left unpublished, so the sweeper dispatches it
once that transaction commits. The reply is a message like any other: it has a batch id, a
delivery report, and shows in the handset's inbox.
"""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.core.encoding import count_segments
from tidings.core.ids import ulid
from tidings.core.statuses import Code, Status
from tidings.policy.consent import SYSTEM
from tidings.store.schema import batches, deliveries

__all__ = ["REPLY_EXPIRY_MS", "queue_sms_reply"]

REPLY_EXPIRY_MS = 24 * 3600 * 1000


async def queue_sms_reply(conn: AsyncConnection, project_id: str, service_plan_id: str | None,
                          sender: str, recipient: str, text: str, now: int,
                          *, client_reference: str | None = None) -> str:
    """Queue `text` from `sender` to `recipient`; returns the reply's batch id."""
    batch_id = ulid()
    count = count_segments(text)
    await conn.execute(insert(batches).values(
        id=batch_id, project_id=project_id, service_plan_id=service_plan_id, type="mt_text",
        sender=sender, body=text, parameters=None, delivery_report="none", callback_url=None,
        client_reference=client_reference, send_at_ms=None, expire_at_ms=now + REPLY_EXPIRY_MS,
        max_number_of_message_parts=None, truncate_concat=None, flash_message=False,
        feedback_enabled=False, canceled=False, recipient_count=1, created_ms=now, modified_ms=now,
        report_queued_ms=None, idempotency_key=None, request_hash=None, purpose=SYSTEM))
    await conn.execute(insert(deliveries).values(
        batch_id=batch_id, project_id=project_id, recipient=recipient,
        status=Status.QUEUED.value, code=Code.QUEUED, encoding=count.encoding.value,
        segments=count.parts, due_ms=now, published_ms=None, claimed_ms=None, attempts=0,
        status_ms=now, created_ms=now))
    return batch_id
