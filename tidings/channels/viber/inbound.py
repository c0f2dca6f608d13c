"""Viber callbacks → `StatusEvent` / `InboundEvent`.

`POST /apps/{app_id}/webhook` takes one callback, signed `X-Viber-Content-Signature: <hex
HMAC-SHA256(the app's auth token, raw body)>`; a bad or missing signature gets 401 and nothing is
stored, an app unknown or without VIBER credentials 404.

- `delivered` / `seen` / `failed` (with `desc`) → status events for the `message_token`;
- `message` → a contact message: text (a silent keyboard tap whose text is our ActionBody
  `tdg1:{message id}:{postback}` → `choice_response_message`), picture / video / file →
  `media_message`, location → `location_message`, url → its link as text, contact → its name and
  number as text; stickers are dropped;
- `webhook` (set_webhook's check), `subscribed`, `unsubscribed`, `conversation_started` → 200.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from tidings.channels.contract import (
    ChannelEvent,
    ChannelEventSink,
    DeliveryState,
    InboundEvent,
    StatusEvent,
)
from tidings.channels.viber.restapi import SIGNATURE_HEADER, verify_signature
from tidings.channels.viber.transcode import decode_action_body

if TYPE_CHECKING:
    from tidings.channels.viber.connector import ViberConnector

__all__ = ["inbound_routes", "parse_callback"]

CHANNEL = "VIBER"
_STATES: dict[str, DeliveryState] = {"delivered": "DELIVERED", "seen": "READ", "failed": "FAILED"}


def _content(message: dict[str, Any]) -> dict[str, Any] | None:
    kind = message.get("type")
    if kind == "text" and isinstance(message.get("text"), str):
        message_id, postback = decode_action_body(message["text"])
        if message_id is not None:
            return {"choice_response_message": {"message_id": message_id, "postback_data": postback}}
        return {"text_message": {"text": message["text"]}}
    if kind in ("picture", "video", "file") and message.get("media"):
        return {"media_message": {"url": str(message["media"])}}
    if kind == "location" and isinstance(message.get("location"), dict):
        loc = message["location"]
        out: dict[str, Any] = {"coordinates": {"latitude": loc.get("lat"), "longitude": loc.get("lon")}}
        if loc.get("address"):
            out["label"] = loc["address"]
        return {"location_message": out}
    if kind == "url" and message.get("media"):
        return {"text_message": {"text": str(message["media"])}}
    if kind == "contact" and isinstance(message.get("contact"), dict):
        contact = message["contact"]
        text = " ".join(str(x) for x in (contact.get("name"), contact.get("phone_number")) if x)
        return {"text_message": {"text": text}} if text else None
    return None


def parse_callback(callback: dict[str, Any], app_id: str) -> list[ChannelEvent]:
    event = callback.get("event")
    token = callback.get("message_token")
    at_ms = int(callback.get("timestamp") or 0)
    state = _STATES.get(str(event))
    if state is not None and token is not None:
        reason = str(callback.get("desc") or "failed") if state == "FAILED" else None
        return [StatusEvent(CHANNEL, str(token), state, at_ms, reason)]
    if event == "message" and token is not None:
        sender = callback.get("sender") or {}
        message = callback.get("message") or {}
        content = _content(message) if isinstance(message, dict) else None
        if content is None or not sender.get("id"):
            return []
        return [InboundEvent(channel=CHANNEL, app_id=app_id, identity=str(sender["id"]),
                             channel_message_id=str(token), at_ms=at_ms, content=content,
                             display_name=sender.get("name") or None)]
    return []


def inbound_routes(connector: ViberConnector, sink: ChannelEventSink) -> list[BaseRoute]:
    async def receive(request: Request) -> Response:
        app_id = request.path_params["app_id"]
        credentials = await sink.credentials(app_id, CHANNEL)
        if credentials is None:
            return PlainTextResponse("unknown app", status_code=404)
        body = await request.body()
        token = str((credentials.get("static_token") or {}).get("token") or "")
        if not verify_signature(token, body, request.headers.get(SIGNATURE_HEADER)):
            return PlainTextResponse("invalid signature", status_code=401)
        try:
            callback = orjson.loads(body)
        except orjson.JSONDecodeError:
            return PlainTextResponse("invalid JSON", status_code=400)
        if not isinstance(callback, dict):
            return PlainTextResponse("invalid callback", status_code=400)
        events = parse_callback(callback, app_id)
        if events:
            await sink.accept(events)
        return PlainTextResponse("ok")

    return [Route("/apps/{app_id}/webhook", receive, methods=["POST"])]
