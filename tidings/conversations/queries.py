"""Reads of the Conversation API tables (every query scoped to a project)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.conversations import identities as scoped
from tidings.core.errors import NotFound
from tidings.store.conversation_schema import (
    conv_app_webhooks,
    conv_apps,
    conv_attempts,
    conv_contacts,
    conv_conversations,
    conv_identities,
    conv_messages,
)

__all__ = [
    "active_conversation",
    "app",
    "apps",
    "attempts_of",
    "contact",
    "contact_by_identities",
    "identities_of",
    "message",
    "webhook",
]

# The reads every messages:send or channel event makes, built once (building a statement
# costs more than running it on SQLite).
_APP = select(conv_apps).where(conv_apps.c.id == bindparam("id_"), conv_apps.c.project_id == bindparam("project_"))
_APP_BY_ID = select(conv_apps).where(conv_apps.c.id == bindparam("id_"))
_CONTACT = select(conv_contacts).where(
    conv_contacts.c.id == bindparam("id_"), conv_contacts.c.project_id == bindparam("project_"))
_CONTACT_BY_IDENTITY = select(conv_identities.c.contact_id, conv_identities.c.app_id).where(
    conv_identities.c.project_id == bindparam("project_"), conv_identities.c.channel == bindparam("channel_"),
    conv_identities.c.identity == bindparam("identity_")).order_by(conv_identities.c.app_id)
_ACTIVE_CONVERSATION = select(conv_conversations).where(
    conv_conversations.c.app_id == bindparam("app_"), conv_conversations.c.contact_id == bindparam("contact_"),
    conv_conversations.c.active.is_(True)).order_by(conv_conversations.c.created_ms.desc())


async def app(conn: AsyncConnection, project_id: str, app_id: str) -> Any:
    row = (await conn.execute(_APP, {"id_": app_id, "project_": project_id})).first()
    if row is None:
        raise NotFound(f"app {app_id} not found")
    return row


async def apps(conn: AsyncConnection, project_id: str) -> list[Any]:
    return list((await conn.execute(select(conv_apps).where(conv_apps.c.project_id == project_id)
                                    .order_by(conv_apps.c.created_ms, conv_apps.c.id))).all())


async def app_by_id(conn: AsyncConnection, app_id: str) -> Any:
    return (await conn.execute(_APP_BY_ID, {"id_": app_id})).first()


async def webhook(conn: AsyncConnection, project_id: str, webhook_id: str) -> Any:
    row = (await conn.execute(select(conv_app_webhooks).where(
        conv_app_webhooks.c.id == webhook_id, conv_app_webhooks.c.project_id == project_id))).first()
    if row is None:
        raise NotFound(f"webhook {webhook_id} not found")
    return row


async def contact(conn: AsyncConnection, project_id: str, contact_id: str) -> Any:
    row = (await conn.execute(_CONTACT, {"id_": contact_id, "project_": project_id})).first()
    if row is None:
        raise NotFound(f"contact {contact_id} not found")
    return row


async def identities_of(conn: AsyncConnection, project_id: str,
                        contact_ids: Sequence[str]) -> dict[str, list[dict[str, str]]]:
    """Each contact's channel identities in its order, as the API shows them (`app_id` only
    on those that name an app)."""
    out: dict[str, list[dict[str, str]]] = {c: [] for c in contact_ids}
    if not contact_ids:
        return out
    rows = await conn.execute(
        select(conv_identities).where(conv_identities.c.project_id == project_id,
                                      conv_identities.c.contact_id.in_(list(contact_ids)))
        .order_by(conv_identities.c.position))
    for r in rows:
        out[r.contact_id].append(scoped.as_json(r.channel, r.identity, r.app_id or ""))
    return out


async def contact_by_identities(conn: AsyncConnection, project_id: str,
                                identities: Sequence[tuple[str, ...]], app_id: str | None = None) -> str | None:
    """The contact owning the first of `identities` that is known: `(channel, identity)` or
    `(channel, identity, app_id)`; an identity naming no app is looked up as `app_id`'s (the
    app's own, else the app-less one: `identities.pick`)."""
    for entry in identities:
        channel, identity = entry[0], entry[1]
        wanted = (entry[2] if len(entry) > 2 and entry[2] else None) or app_id
        rows = (await conn.execute(_CONTACT_BY_IDENTITY, {
            "project_": project_id, "channel_": channel, "identity_": identity})).all()
        row = scoped.pick(rows, channel, wanted)
        if row is not None:
            return str(row.contact_id)
    return None


async def active_conversation(conn: AsyncConnection, app_id: str, contact_id: str) -> Any:
    return (await conn.execute(_ACTIVE_CONVERSATION, {"app_": app_id, "contact_": contact_id})).first()


async def message(conn: AsyncConnection, project_id: str, message_id: str) -> Any:
    row = (await conn.execute(select(conv_messages).where(
        conv_messages.c.id == message_id, conv_messages.c.project_id == project_id,
        conv_messages.c.state != "DELETED"))).first()
    if row is None:
        raise NotFound(f"message {message_id} not found")
    return row


async def attempts_of(conn: AsyncConnection, message_ids: Sequence[str]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {m: [] for m in message_ids}
    if not message_ids:
        return out
    rows = await conn.execute(select(conv_attempts).where(
        conv_attempts.c.message_id.in_(list(message_ids))).order_by(conv_attempts.c.id))
    for r in rows:
        out[r.message_id].append(r)
    return out
