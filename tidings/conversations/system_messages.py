"""Messages Tidings sends on its own on a conversation channel: keyword confirmations (STOP,
START, HELP) and double opt-in requests.

`queue_system_message` inserts, in the caller's transaction, an outbound text message for one
(channel, identity) with `extensions.purpose = "system"`: the policy gate never refuses it for
consent (a STOP's confirmation must reach the person who just opted out) and caps do not count
it. The engine picks it up like any message once the transaction commits; its id is the reply's
reference in the consent ledger's proof. It is stored in the contact's conversation, so it shows
in GET messages and reports MESSAGE_DELIVERY like any other.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.core.ids import ulid
from tidings.policy.consent import SYSTEM
from tidings.store.conversation_schema import conv_messages

__all__ = ["SYSTEM", "is_system", "queue_system_message"]


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
