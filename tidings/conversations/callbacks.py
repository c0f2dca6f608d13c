"""Conversation API callbacks in Sinch's shapes, queued on the webhook outbox.

    MESSAGE_DELIVERY   {"app_id", "project_id", "accepted_time", "event_time",
                        "message_delivery_report": {"message_id", "conversation_id", "status",
                        "channel_identity", "contact_id", "reason", "metadata", "processing_mode"},
                        "message_metadata", "correlation_id"}
    MESSAGE_INBOUND    {..., "message": {"id", "direction": "TO_APP", "contact_message",
                        "channel_identity", "conversation_id", "contact_id", "accept_time", ...}}
    CONTACT_CREATE / CONTACT_DELETE / CONTACT_UPDATE
                       {..., "contact_create_notification": {"contact": {...}}} and alike
    CONTACT_MERGE      {..., "contact_merge_notification": {"preserved_contact", "deleted_contact"}}

Each app webhook subscribed to the trigger gets a row signed with its own secret (Sinch's HMAC
scheme, `tidings/webhooks/signing.py`); a message's `callback_url` replaces the webhooks'
targets for its MESSAGE_DELIVERY events. Rows are inserted on the caller's connection, in the
transaction of the change they report.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.store.conversation_schema import conv_app_webhooks
from tidings.webhooks import outbox

__all__ = [
    "contact_change_rows",
    "contact_event",
    "delivery_report",
    "enqueue",
    "inbound_message",
    "iso",
    "rows_for",
]


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _envelope(project_id: str, app_id: str, now: int, event_ms: int | None = None,
              **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "app_id": app_id,
        "accepted_time": iso(now),
        "event_time": iso(event_ms if event_ms is not None else now),
        "project_id": project_id,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def delivery_report(msg: Any, status: str, now: int, *, channel: str | None, identity: str | None,
                    reason: dict[str, Any] | None = None, event_ms: int | None = None) -> dict[str, Any]:
    """A MESSAGE_DELIVERY body for message row `msg` (conv_messages)."""
    report: dict[str, Any] = {
        "message_id": msg.id,
        "conversation_id": msg.conversation_id or "",
        "status": status,
        "contact_id": msg.contact_id or "",
        "metadata": msg.metadata or "",
        "processing_mode": msg.processing_mode,
    }
    if channel:
        report["channel_identity"] = {"channel": channel, "identity": identity or "",
                                      "app_id": msg.app_id}
    if reason:
        report["reason"] = reason
    return _envelope(msg.project_id, msg.app_id, now, event_ms, message_delivery_report=report,
                     message_metadata=msg.metadata, correlation_id=msg.correlation_id)


def inbound_message(project_id: str, app_id: str, message: dict[str, Any], now: int) -> dict[str, Any]:
    """A MESSAGE_INBOUND body; `message` is the API's message JSON (with contact_message)."""
    return _envelope(project_id, app_id, now, message=message,
                     message_metadata=message.get("metadata") or None)


_CONTACT_KEYS = {
    "CONTACT_CREATE": "contact_create_notification",
    "CONTACT_DELETE": "contact_delete_notification",
    "CONTACT_UPDATE": "contact_update_notification",
    "CONTACT_MERGE": "contact_merge_notification",
}


def contact_event(project_id: str, app_id: str, trigger: str, contact: dict[str, Any],
                  now: int) -> dict[str, Any]:
    """A CONTACT_CREATE / _DELETE / _UPDATE body for one app (`{"contact": …}`)."""
    return _contact_body(project_id, app_id, trigger, {"contact": contact}, now)


def _contact_body(project_id: str, app_id: str, trigger: str, notification: dict[str, Any],
                  now: int) -> dict[str, Any]:
    body = _envelope(project_id, app_id, now)
    body[_CONTACT_KEYS[trigger]] = notification
    return body


_APP_WEBHOOKS = (  # built once: it runs for every status of every message
    select(conv_app_webhooks.c.target, conv_app_webhooks.c.secret, conv_app_webhooks.c.triggers)
    .where(conv_app_webhooks.c.app_id == bindparam("app_id_"),
           conv_app_webhooks.c.project_id == bindparam("project_id_")))


async def rows_for(conn: AsyncConnection, project_id: str, app_id: str, trigger: str,
                   body: dict[str, Any], now: int, *, url_override: str | None = None
                   ) -> list[dict[str, Any]]:
    """Outbox rows for every webhook of the app subscribed to `trigger`."""
    hooks = (await conn.execute(_APP_WEBHOOKS, {"app_id_": app_id, "project_id_": project_id})).all()
    data = orjson.dumps(body)
    subscribed = [h for h in hooks if trigger in (h.triggers or [])]
    kind = trigger.lower()
    if url_override:
        secret = next((h.secret for h in subscribed if h.secret), None)
        secret = secret or next((h.secret for h in hooks if h.secret), None)
        return [outbox.webhook_row(project_id, url_override, kind, data, now, secret=secret)]
    return [outbox.webhook_row(project_id, h.target, kind, data, now, secret=h.secret)
            for h in subscribed]


_PROJECT_HOOK_APPS = (
    select(conv_app_webhooks.c.app_id).where(conv_app_webhooks.c.project_id == bindparam("project_id_"))
    .distinct())


async def contact_change_rows(conn: AsyncConnection, project_id: str, trigger: str,
                              notification: dict[str, Any], now: int) -> list[dict[str, Any]]:
    """Outbox rows for a change made to a contact through the API: a contact is the project's,
    so every app of the project with a webhook subscribed to `trigger` hears of it.
    `notification`: `{"contact": …}`, or for CONTACT_MERGE `{"preserved_contact", "deleted_contact"}`."""
    app_ids = sorted((await conn.execute(_PROJECT_HOOK_APPS, {"project_id_": project_id})).scalars())
    rows: list[dict[str, Any]] = []
    for app_id in app_ids:
        body = _contact_body(project_id, app_id, trigger, notification, now)
        rows += await rows_for(conn, project_id, app_id, trigger, body, now)
    return rows


async def enqueue(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    await outbox.enqueue(conn, rows)
