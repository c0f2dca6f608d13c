"""Messages Tidings sends on its own on a conversation channel: keyword confirmations (STOP,
START, HELP) and double opt-in requests.

`queue_system_message` inserts, in the caller's transaction, an outbound text message for one
(channel, identity) with `extensions.purpose = "system"`: the policy gate never refuses it for
consent (a STOP's confirmation must reach the person who just opted out) and caps do not count
it. The engine picks it up like any message once the transaction commits; its id is the reply's
reference in the consent ledger's proof. It is stored in the contact's conversation, so it shows
in GET messages and reports MESSAGE_DELIVERY like any other. `queue_to_identity` finds the
contact and conversation first (double opt-in requests); `app_for_channel` picks the app that
writes on a channel.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.conversations import queries
from tidings.core.ids import ulid
from tidings.policy.consent import SYSTEM
from tidings.store.conversation_schema import conv_apps, conv_messages

__all__ = ["SYSTEM", "app_for_channel", "is_system", "queue_system_message", "queue_to_identity"]


def is_system(extensions: object) -> bool:
    return isinstance(extensions, dict) and extensions.get("purpose") == SYSTEM


async def queue_system_message(conn: AsyncConnection, *, project_id: str, app_id: str, channel: str,
                               identity: str, text: str, now: int, contact_id: str | None = None,
                               conversation_id: str | None = None, reference: str | None = None) -> str:
    """Queue `text` to `identity` on `channel` from the app; returns the message id."""
    message_id = ulid()
    await conn.execute(conv_messages.insert().values(
        id=message_id, project_id=project_id, app_id=app_id, conversation_id=conversation_id,
        contact_id=contact_id, direction="TO_CONTACT", content={"text_message": {"text": text}},
        channel=None, identity=None, metadata=None, correlation_id=reference, callback_url=None,
        processing_mode="CONVERSATION" if contact_id else "DISPATCH", ttl_ms=None,
        plan=[{"channel": channel, "identity": identity}], plan_index=0, tries=0, state="PENDING",
        next_ms=now, claimed_ms=None, attempt_id=None, reason=None, channel_message_id=None,
        accept_ms=now, idempotency_key=None, request_hash=None, extensions={"purpose": SYSTEM}))
    return message_id


async def app_for_channel(conn: AsyncConnection, project_id: str, channel: str,
                          app_id: str | None = None) -> str | None:
    """`app_id` when it is the project's and has credentials for `channel`; without one, the
    project's oldest app that has them (None when no app can write on that channel)."""
    query = select(conv_apps.c.id, conv_apps.c.channel_credentials).where(conv_apps.c.project_id == project_id)
    if app_id is not None:
        query = query.where(conv_apps.c.id == app_id)
    for row in (await conn.execute(query.order_by(conv_apps.c.created_ms, conv_apps.c.id))).all():
        if any(isinstance(e, dict) and e.get("channel") == channel for e in row.channel_credentials or []):
            return str(row.id)
    return None


async def queue_to_identity(conn: AsyncConnection, *, project_id: str, app_id: str, channel: str,
                            identity: str, text: str, now: int, reference: str | None = None) -> str:
    """`queue_system_message` to an identity, in its contact's active conversation with the app
    when it has one (the engine then knows the contact's last message: messaging windows)."""
    contact_id = await queries.contact_by_identities(conn, project_id, [(channel, identity)], app_id)
    conversation_id = None
    if contact_id is not None:
        conv = await queries.active_conversation(conn, app_id, contact_id)
        conversation_id = conv.id if conv is not None else None
    return await queue_system_message(conn, project_id=project_id, app_id=app_id, channel=channel,
                                      identity=identity, text=text, now=now, contact_id=contact_id,
                                      conversation_id=conversation_id, reference=reference)
