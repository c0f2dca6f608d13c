"""WhatsApp Cloud API webhooks → `StatusEvent` / `InboundEvent`.

`GET  /apps/{app_id}/webhook` answers Meta's verification (`hub.mode=subscribe`,
`hub.verify_token`, `hub.challenge` echoed back as text/plain).
`POST /apps/{app_id}/webhook` takes `{"object": "whatsapp_business_account", "entry": [{"changes":
[{"field": "messages", "value": {...}}]}]}` signed `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app
secret, raw body)>` with the app's `callback_secret`; an app without one, or a bad signature, gets
401 and nothing is stored. Only changes for the app's own phone number id are taken.

Statuses `delivered`/`read`/`failed` become status events (`sent` carries nothing the contract
records); messages become Conversation contact messages: text, a tapped reply button, list row or
template quick reply (→ `choice_response_message` with the id as `postback_data`), location, media
(its URL looked up with `GET /{version}/{media_id}`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
from starlette.routing import BaseRoute

from tidings.channels.contract import (
    ChannelEvent,
    ChannelEventSink,
    DeliveryState,
    InboundEvent,
    StatusEvent,
)
from tidings.channels.graph_common import webhook_routes

if TYPE_CHECKING:
    from tidings.channels.whatsapp.connector import WhatsAppConnector

__all__ = ["MEDIA_TYPES", "inbound_routes", "media_ids", "parse_webhook"]

CHANNEL = "WHATSAPP"
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
_STATES: dict[str, DeliveryState] = {"delivered": "DELIVERED", "read": "READ", "failed": "FAILED"}


def _changes(payload: dict[str, Any], phone_number_id: str | None) -> list[dict[str, Any]]:
    values: list[dict[str, Any]] = []
    if payload.get("object") != "whatsapp_business_account":
        return values
    for entry in payload.get("entry") or []:
        for change in (entry or {}).get("changes") or []:
            value = (change or {}).get("value") or {}
            if change.get("field") != "messages" or not isinstance(value, dict):
                continue
            if phone_number_id is not None and (value.get("metadata") or {}).get("phone_number_id") != phone_number_id:
                continue
            values.append(value)
    return values


def media_ids(payload: dict[str, Any], phone_number_id: str | None = None) -> list[str]:
    """The media ids of inbound media messages (their URLs must be looked up)."""
    ids = []
    for value in _changes(payload, phone_number_id):
        for message in value.get("messages") or []:
            kind = message.get("type")
            if kind in MEDIA_TYPES and (message.get(kind) or {}).get("id"):
                ids.append(str(message[kind]["id"]))
    return ids


def _ms(timestamp: Any) -> int:
    try:
        return int(timestamp) * 1000
    except (TypeError, ValueError):
        return 0


def _status(status: dict[str, Any]) -> StatusEvent | None:
    state = _STATES.get(str(status.get("status")))
    if state is None or not status.get("id"):
        return None
    reason = None
    if state == "FAILED":
        errors = status.get("errors") or [{}]
        first = errors[0] if isinstance(errors[0], dict) else {}
        reason = f"{first.get('code', '')}: {first.get('title') or first.get('message') or 'failed'}"
    return StatusEvent(CHANNEL, str(status["id"]), state, _ms(status.get("timestamp")), reason)


def _content(message: dict[str, Any], media_urls: dict[str, str]) -> dict[str, Any] | None:
    kind = message.get("type")
    context_id = (message.get("context") or {}).get("id")
    if kind == "text":
        return {"text_message": {"text": str((message.get("text") or {}).get("body", ""))}}
    if kind == "interactive":
        interactive = message.get("interactive") or {}
        reply = interactive.get(str(interactive.get("type"))) or {}
        if interactive.get("type") in ("button_reply", "list_reply") and reply.get("id") is not None:
            return {"choice_response_message": {"message_id": context_id or "", "postback_data": str(reply["id"])}}
        return None
    if kind == "button":
        button = message.get("button") or {}
        postback = button.get("payload") or button.get("text") or ""
        return {"choice_response_message": {"message_id": context_id or "", "postback_data": str(postback)}}
    if kind == "location":
        loc = message.get("location") or {}
        out: dict[str, Any] = {"coordinates": {"latitude": loc.get("latitude"), "longitude": loc.get("longitude")}}
        if loc.get("name"):
            out["title"] = loc["name"]
        if loc.get("address"):
            out["label"] = loc["address"]
        return {"location_message": out}
    if kind in MEDIA_TYPES:
        media_id = str((message.get(kind) or {}).get("id", ""))
        url = media_urls.get(media_id)
        return {"media_message": {"url": url}} if url else None
    return None


def parse_webhook(payload: dict[str, Any], app_id: str, *, phone_number_id: str | None = None,
                  media_urls: dict[str, str] | None = None) -> list[ChannelEvent]:
    """The events in one webhook delivery (only for `phone_number_id` when given)."""
    events: list[ChannelEvent] = []
    media_urls = media_urls or {}
    for value in _changes(payload, phone_number_id):
        names = {str(c.get("wa_id")): (c.get("profile") or {}).get("name") for c in value.get("contacts") or []}
        for status in value.get("statuses") or []:
            event = _status(status)
            if event is not None:
                events.append(event)
        for message in value.get("messages") or []:
            content = _content(message, media_urls)
            if content is None or not message.get("from") or not message.get("id"):
                continue
            sender = str(message["from"])
            events.append(InboundEvent(
                channel=CHANNEL,
                app_id=app_id,
                identity="+" + sender.removeprefix("+"),
                channel_message_id=str(message["id"]),
                at_ms=_ms(message.get("timestamp")),
                content=content,
                display_name=names.get(sender),
                reply_to_channel_message_id=(message.get("context") or {}).get("id"),
            ))
    return events


def inbound_routes(connector: WhatsAppConnector, sink: ChannelEventSink) -> list[BaseRoute]:
    async def handle(app_id: str, credentials: dict[str, Any], payload: dict[str, Any]) -> None:
        phone_number_id = str((credentials.get("static_bearer") or {}).get("claimed_identity") or "") or None
        token = str((credentials.get("static_bearer") or {}).get("token") or "")
        urls = {media_id: await _media_url(connector, media_id, token)
                for media_id in media_ids(payload, phone_number_id)}
        events = parse_webhook(payload, app_id, phone_number_id=phone_number_id, media_urls=urls)
        if events:
            await sink.accept(events)

    return webhook_routes(CHANNEL, sink, connector.verify_token, handle)


async def _media_url(connector: WhatsAppConnector, media_id: str, token: str) -> str:
    """The download URL of an inbound media object (`GET /{version}/{media_id}`); the Graph
    node's own URL when the lookup fails."""
    node = connector.graph_url(media_id)
    try:
        response = await connector.ctx.http.get(node, headers={"Authorization": f"Bearer {token}"})
        if response.status_code == 200:
            return str(response.json().get("url") or node)
    except (httpx.HTTPError, ValueError):
        pass
    return node
