"""Conversation API writes on conversations themselves (Sinch's reference, "Conversation"):

    POST   /conversations                  create an empty conversation (app_id, contact_id required)
    PATCH  /conversations/{id}             active, active_channel, metadata, metadata_json
                                           (`metadata_update_strategy` REPLACE or MERGE_PATCH),
                                           correlation_id; `update_mask` limits the fields
    POST   /conversations/{id}:stop        make it inactive (the next message starts a new one)
    DELETE /conversations/{id}             the conversation and its messages

An app and a contact have at most one active conversation: creating (or re-activating) one while
another is active is refused with 400 FAILED_PRECONDITION, and nothing is written. Each change
queues CONVERSATION_START / _STOP / _DELETE callbacks for the app's webhooks subscribed to them
(`{"conversation_start_notification": {"conversation": …}}` and alike), in its transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.conversations import callbacks, queries, views
from tidings.conversations.checks import check_channel, invalid
from tidings.core.errors import NotFound, RequestError
from tidings.core.ids import ulid
from tidings.runtime.context import Context
from tidings.store.conversation_schema import conv_attempts, conv_conversations, conv_messages

__all__ = ["do_create_conversation", "do_delete_conversation", "do_stop_conversation",
           "do_update_conversation", "merge_patch"]

_c = conv_conversations.c
STRATEGIES = ("REPLACE", "MERGE_PATCH")
_NOTIFICATIONS = {"CONVERSATION_START": "conversation_start_notification",
                  "CONVERSATION_STOP": "conversation_stop_notification",
                  "CONVERSATION_DELETE": "conversation_delete_notification"}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge key by key, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _columns(body: dict[str, Any]) -> dict[str, Any]:
    """The settable fields of `body`, checked."""
    cols: dict[str, Any] = {}
    if "active" in body:
        if not isinstance(body["active"], bool):
            raise invalid("active", "must be true or false")
        cols["active"] = body["active"]
    if body.get("active_channel") is not None:
        cols["active_channel"] = check_channel(body["active_channel"], "active_channel")
    if "metadata" in body:
        if body["metadata"] is not None and (not isinstance(body["metadata"], str) or len(body["metadata"]) > 1024):
            raise invalid("metadata", "must be a string of at most 1024 characters")
        cols["metadata"] = body["metadata"]
    if "metadata_json" in body:
        if body["metadata_json"] is not None and not isinstance(body["metadata_json"], dict):
            raise invalid("metadata_json", "must be a JSON object")
        cols["metadata_json"] = body["metadata_json"]
    if "correlation_id" in body:
        value = body["correlation_id"]
        if value is not None and (not isinstance(value, str) or len(value) > 128):
            raise invalid("correlation_id", "must be a string of at most 128 characters")
        cols["correlation_id"] = value
    return cols


async def _conversation(conn: AsyncConnection, project_id: str, conversation_id: str) -> Any:
    row = (await conn.execute(select(conv_conversations).where(
        _c.id == conversation_id, _c.project_id == project_id))).first()
    if row is None:
        raise NotFound(f"conversation {conversation_id} not found")
    return row


async def _refuse_second_active(conn: AsyncConnection, app_id: str, contact_id: str, other_than: str) -> None:
    current = await queries.active_conversation(conn, app_id, contact_id)
    if current is not None and current.id != other_than:
        raise RequestError("FAILED_PRECONDITION", f"the contact already has an active conversation "
                                                  f"with the app: {current.id}", 400)


async def _notify(ctx: Context, conn: AsyncConnection, row: Any, trigger: str) -> None:
    now = ctx.clock()
    body = {"app_id": row.app_id, "accepted_time": callbacks.iso(now), "event_time": callbacks.iso(now),
            "project_id": row.project_id, _NOTIFICATIONS[trigger]: {"conversation": views.conversation_json(row)}}
    await callbacks.enqueue(conn, await callbacks.rows_for(conn, row.project_id, row.app_id, trigger, body, now))


def _body(payload: object) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise invalid("body", "must be a JSON object")
    return payload


async def do_create_conversation(ctx: Context, project_id: str, payload: object) -> dict[str, Any]:
    body = _body(payload)
    for key in ("app_id", "contact_id"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise invalid(key, "is required")
    cols = {"active": True, "active_channel": None, "metadata": None, "metadata_json": None,
            "correlation_id": None, **_columns(body)}
    now = ctx.clock()
    async with ctx.db.write() as conn:
        await queries.app(conn, project_id, body["app_id"])
        await queries.contact(conn, project_id, body["contact_id"])
        if cols["active"]:
            await _refuse_second_active(conn, body["app_id"], body["contact_id"], "")
        conversation_id = ulid()
        await conn.execute(conv_conversations.insert().values(
            id=conversation_id, project_id=project_id, app_id=body["app_id"], contact_id=body["contact_id"],
            created_ms=now, last_ms=now, **cols))
        row = await _conversation(conn, project_id, conversation_id)
        if row.active:
            await _notify(ctx, conn, row, "CONVERSATION_START")
        return views.conversation_json(row)


async def do_update_conversation(ctx: Context, project_id: str, conversation_id: str, payload: object,
                                 update_mask: list[str] | None, strategy: str | None) -> dict[str, Any]:
    body = _body(payload)
    strategy = strategy or "REPLACE"
    if strategy not in STRATEGIES:
        raise invalid("metadata_update_strategy", f"must be one of {STRATEGIES}")
    if update_mask:
        body = {k: v for k, v in body.items() if k in update_mask}
    for key in ("app_id", "contact_id", "id"):
        if body.get(key):
            raise invalid(key, "cannot be changed")
    cols = _columns(body)
    async with ctx.db.write() as conn:
        current = await _conversation(conn, project_id, conversation_id)
        if cols.get("active") and not current.active:
            await _refuse_second_active(conn, current.app_id, current.contact_id, current.id)
        if strategy == "MERGE_PATCH" and "metadata_json" in cols:
            cols["metadata_json"] = merge_patch(current.metadata_json, cols["metadata_json"])
        if cols:
            await conn.execute(update(conv_conversations).where(_c.id == conversation_id).values(**cols))
        row = await _conversation(conn, project_id, conversation_id)
        if current.active != row.active:
            await _notify(ctx, conn, row, "CONVERSATION_START" if row.active else "CONVERSATION_STOP")
        return views.conversation_json(row)


async def do_stop_conversation(ctx: Context, project_id: str, conversation_id: str) -> None:
    async with ctx.db.write() as conn:
        current = await _conversation(conn, project_id, conversation_id)
        if not current.active:
            return
        await conn.execute(update(conv_conversations).where(_c.id == conversation_id).values(active=False))
        await _notify(ctx, conn, await _conversation(conn, project_id, conversation_id), "CONVERSATION_STOP")


async def do_delete_conversation(ctx: Context, project_id: str, conversation_id: str) -> None:
    """The conversation and its messages (with their attempts). A message the engine is still
    working on goes too: deleting a conversation is the caller's decision to forget it."""
    async with ctx.db.write() as conn:
        row = await _conversation(conn, project_id, conversation_id)
        ids = select(conv_messages.c.id).where(conv_messages.c.conversation_id == conversation_id)
        await conn.execute(delete(conv_attempts).where(conv_attempts.c.message_id.in_(ids)))
        await conn.execute(delete(conv_messages).where(conv_messages.c.conversation_id == conversation_id))
        await conn.execute(delete(conv_conversations).where(_c.id == conversation_id))
        await _notify(ctx, conn, row, "CONVERSATION_DELETE")
