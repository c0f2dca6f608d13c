"""What a contact merge does to conversations, as Sinch documents it: the remaining contact has
every conversation the removed one had, and where both had an active conversation with the same
app, the removed contact's messages join the destination's active conversation — so the merged
contact has one active conversation per app. The source's conversation is left inactive and
empty (its id still answers GET, with no messages).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.store.conversation_schema import conv_app_events, conv_conversations, conv_messages

__all__ = ["merge_conversations"]

_c = conv_conversations.c


async def merge_conversations(conn: AsyncConnection, source_id: str, destination_id: str) -> None:
    """Move `source_id`'s conversations, messages and app events to `destination_id` (in the
    caller's transaction)."""
    kept: dict[str, Any] = {}
    for row in (await conn.execute(select(conv_conversations).where(
            _c.contact_id == destination_id, _c.active.is_(True)).order_by(_c.last_ms, _c.id))).all():
        kept[row.app_id] = row  # the most recent active one per app, should there be two
    source_active = (await conn.execute(select(conv_conversations).where(
        _c.contact_id == source_id, _c.active.is_(True)))).all()
    for conv in source_active:
        into = kept.get(conv.app_id)
        if into is None:
            continue
        await conn.execute(update(conv_messages).where(conv_messages.c.conversation_id == conv.id)
                           .values(conversation_id=into.id))
        await conn.execute(update(conv_app_events).where(conv_app_events.c.conversation_id == conv.id)
                           .values(conversation_id=into.id))
        await conn.execute(update(conv_conversations).where(_c.id == into.id)
                           .values(last_ms=max(into.last_ms, conv.last_ms)))
        await conn.execute(update(conv_conversations).where(_c.id == conv.id).values(active=False))
    await conn.execute(update(conv_conversations).where(_c.contact_id == source_id)
                       .values(contact_id=destination_id))
    await conn.execute(update(conv_messages).where(conv_messages.c.contact_id == source_id)
                       .values(contact_id=destination_id))
    await conn.execute(update(conv_app_events).where(conv_app_events.c.contact_id == source_id)
                       .values(contact_id=destination_id))
