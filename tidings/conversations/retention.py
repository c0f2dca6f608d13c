"""The Conversation API's retention policies: an app's messages deleted as its settings say.

An app's `retention_policy` (processing mode CONVERSATION), as Sinch documents it:

    MESSAGE_EXPIRE_POLICY        (the default) a message goes `ttl_days` after it was accepted
    CONVERSATION_EXPIRE_POLICY   a conversation goes, with its messages, `ttl_days` after its last
                                 message
    PERSIST_RETENTION_POLICY     nothing goes

`ttl_days` is 1–3650, 180 when not given. Messages of DISPATCH mode (no contact, no conversation)
follow `dispatch_retention_policy` (MESSAGE_EXPIRE_POLICY only, `ttl_days` 0–7, 0: gone as soon as
it is final); without one, the app's message retention applies to them too. A message is deleted
with its delivery attempts, and only once final (delivered, read, failed, or received): one still
being tried or waited on stays, however old. The sweeper runs this with its other purges; the
old rows are found on the (project, time) indexes of messages and conversations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.conversations.checks import invalid
from tidings.store.conversation_schema import conv_apps, conv_attempts, conv_conversations, conv_messages

__all__ = ["RETENTION_TYPES", "check_dispatch_retention_policy", "check_retention_policy", "purge_app_messages"]

RETENTION_TYPES = ("MESSAGE_EXPIRE_POLICY", "CONVERSATION_EXPIRE_POLICY", "PERSIST_RETENTION_POLICY")
DEFAULT_TTL_DAYS = 180
DAY_MS = 24 * 3600 * 1000
FINAL_STATES = ("DELIVERED", "READ", "FAILED", "RECEIVED")

_m, _c = conv_messages.c, conv_conversations.c


def _policy(raw: object, field: str, types: tuple[str, ...], low: int, high: int) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise invalid(field, "must be an object")
    kind = raw.get("retention_type", types[0])
    if kind not in types:
        raise invalid(f"{field}.retention_type", f"must be one of {', '.join(types)}")
    ttl = raw.get("ttl_days")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or not low <= ttl <= high):
        raise invalid(f"{field}.ttl_days", f"must be a whole number from {low} to {high}")
    return dict(raw)


def check_retention_policy(raw: object) -> dict[str, Any]:
    return _policy(raw, "retention_policy", RETENTION_TYPES, 1, 3650)


def check_dispatch_retention_policy(raw: object) -> dict[str, Any]:
    return _policy(raw, "dispatch_retention_policy", ("MESSAGE_EXPIRE_POLICY",), 0, 7)


async def purge_app_messages(conn: AsyncConnection, now_ms: int, limit: int) -> int:
    """Delete up to about `limit` messages that the apps' policies let go; returns how many."""
    deleted = 0
    for app in (await conn.execute(select(conv_apps.c.id, conv_apps.c.project_id, conv_apps.c.settings))).all():
        if deleted >= limit:
            break
        settings = app.settings if isinstance(app.settings, Mapping) else {}
        policy = settings.get("retention_policy")
        policy = policy if isinstance(policy, Mapping) else {}
        kind = policy.get("retention_type") or "MESSAGE_EXPIRE_POLICY"
        ttl_days = policy.get("ttl_days") or DEFAULT_TTL_DAYS
        dispatch = settings.get("dispatch_retention_policy")
        dispatch_days = dispatch.get("ttl_days") if isinstance(dispatch, Mapping) else None
        if dispatch_days is None and kind != "PERSIST_RETENTION_POLICY":
            dispatch_days = ttl_days
        if dispatch_days is not None:
            deleted += await _delete_messages(conn, limit - deleted, _m.project_id == app.project_id,
                                              _m.app_id == app.id, _m.processing_mode == "DISPATCH",
                                              _m.accept_ms < now_ms - dispatch_days * DAY_MS)
        cutoff = now_ms - ttl_days * DAY_MS
        if kind == "MESSAGE_EXPIRE_POLICY":
            deleted += await _delete_messages(conn, limit - deleted, _m.project_id == app.project_id,
                                              _m.app_id == app.id, _m.processing_mode != "DISPATCH",
                                              _m.accept_ms < cutoff)
        elif kind == "CONVERSATION_EXPIRE_POLICY":
            deleted += await _expire_conversations(conn, app.project_id, app.id, cutoff, limit - deleted)
    return deleted


async def _delete_messages(conn: AsyncConnection, limit: int, *where: Any) -> int:
    if limit <= 0:
        return 0
    ids = list((await conn.execute(
        select(_m.id).where(*where, _m.state.in_(FINAL_STATES)).limit(limit))).scalars())
    return await _forget(conn, ids)


async def _forget(conn: AsyncConnection, message_ids: list[str]) -> int:
    """Delete these messages with their attempts; returns how many."""
    if message_ids:
        await conn.execute(delete(conv_attempts).where(conv_attempts.c.message_id.in_(message_ids)))
        await conn.execute(delete(conv_messages).where(_m.id.in_(message_ids)))
    return len(message_ids)


async def _expire_conversations(conn: AsyncConnection, project_id: str, app_id: str, cutoff: int, limit: int) -> int:
    """Conversations whose last message is older than the cutoff, with their messages; one with
    a message not final yet stays."""
    if limit <= 0:
        return 0
    unfinished = select(_m.id).where(_m.conversation_id == _c.id, ~_m.state.in_(FINAL_STATES)).exists()
    stale = list((await conn.execute(
        select(_c.id).where(_c.project_id == project_id, _c.app_id == app_id, _c.last_ms < cutoff, ~unfinished)
        .limit(max(1, limit // 10))
    )).scalars())
    if not stale:
        return 0
    deleted = await _forget(conn, list((await conn.execute(
        select(_m.id).where(_m.conversation_id.in_(stale)))).scalars()))
    await conn.execute(delete(conv_conversations).where(_c.id.in_(stale)))
    return deleted
