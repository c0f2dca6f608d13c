"""Releasing every lease a stopped process left in the database, for the embedded profile.

Work taken from a table (a webhook to post, a deliver_sm to send to a gateway client, a
Conversation API message, event or app event to act on) is held by a lease: `claimed_ms` set by
a guarded update, taken over by anyone once it is older than the lease (60 s for webhooks). In
the distributed profile that wait is how a live process tells a dead one's rows from another
live one's. In the embedded profile one process owns the data directory (`DataDirLock`), so at
its start every lease found is a dead process's: released at once, its work resumes the moment
the process is up instead of a lease later. Dispatch claims on deliveries are released with the
in-process queue's republish (`deliveries.unpublish_all`).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.store.conversation_schema import conv_app_events, conv_channel_events, conv_messages
from tidings.store.gateway_schema import smpp_outbox
from tidings.store.schema import webhook_outbox

LEASED: tuple[tuple[Table, ColumnElement[bool]], ...] = (
    (webhook_outbox, webhook_outbox.c.state == "pending"),
    (smpp_outbox, smpp_outbox.c.state == "pending"),
    (conv_messages, conv_messages.c.state.in_(("PENDING", "WAITING"))),
    (conv_channel_events, conv_channel_events.c.processed_ms.is_(None)),
    (conv_app_events, conv_app_events.c.state == "PENDING"),
)
"""Tables whose `claimed_ms` is a lease (NULL: nobody's), with the rows that can still be
claimed: only those are looked at (through the tables' state indexes), so a start costs what is
open, not the history the tables keep. Not `smpp_submit_parts`: there `claimed_ms` marks a
message's parts as taken to be sent, for good."""


async def release_all(conn: AsyncConnection) -> dict[str, int]:
    """Clear every lease; returns how many were released, by table (tables with none left out)."""
    released: dict[str, int] = {}
    for table, open_rows in LEASED:
        result = await conn.execute(update(table).where(open_rows, table.c.claimed_ms.is_not(None))
                                    .values(claimed_ms=None))
        if result.rowcount:
            released[table.name] = result.rowcount
    return released
