"""RBM webhook → `StatusEvent` / `InboundEvent`, with Google's own checks.

What Google posts to the agent's webhook (RBM guides, "Webhooks"):

- once, when the webhook is configured: `{"clientToken": ..., "secret": ...}`; we answer 200 with
  the secret as the plain-text body if the client token is ours (403 otherwise);
- then every user message and event, Pub/Sub push-shaped:
  `{"message": {"data": base64(JSON), "messageId", "publishTime", "attributes"}, "subscription"}`
  with header `X-Goog-Signature: base64(HMAC-SHA512(clientToken, base64-decoded data))`.
  Anything whose signature does not match is refused (401) and nothing is stored.

The decoded data is a UserMessage (`text`, `suggestionResponse{postbackData, text, type}`,
`location{latitude, longitude}` or `userFile{payload{fileUri, mimeType, fileName, ...},
thumbnail}`) or a UserEvent (`eventType` DELIVERED / READ / IS_TYPING, `messageId`), both with
`senderPhoneNumber`, `messageId`, `sendTime`, `agentId`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from tidings.channels.contract import ChannelEvent, ChannelEventSink, InboundEvent, StatusEvent
from tidings.channels.rcs.client import RbmCredentials
from tidings.channels.rcs.transcode import decode_postback
from tidings.core.errors import ChannelAuthError

__all__ = ["CHANNEL", "InvalidWebhook", "events_from", "parse_time_ms", "routes", "signature", "verify"]

log = logging.getLogger(__name__)

CHANNEL = "RCS"
SIGNATURE_HEADER = "x-goog-signature"
MAX_BODY_BYTES = 1 << 20
_STATUSES = {"DELIVERED": "DELIVERED", "READ": "READ"}

OnInbound = Callable[[RbmCredentials, Sequence[InboundEvent]], Awaitable[None]]


class InvalidWebhook(ValueError):
    """The request is not an RBM webhook call we can accept (bad shape or signature)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def signature(client_token: str, data: bytes) -> str:
    return base64.b64encode(hmac.new(client_token.encode(), data, hashlib.sha512).digest()).decode()


def verify(body: bytes, header: str | None, client_token: str) -> dict[str, Any]:
    """The decoded, signature-checked payload of a push request; raises `InvalidWebhook`."""
    try:
        envelope = orjson.loads(body)
        data_b64 = envelope["message"]["data"]
        data = base64.b64decode(data_b64, validate=True)
    except (orjson.JSONDecodeError, KeyError, TypeError, binascii.Error) as exc:
        raise InvalidWebhook("not an RBM push message: expected {\"message\": {\"data\": base64}}") from exc
    if not header or not hmac.compare_digest(header.encode(), signature(client_token, data).encode()):
        raise InvalidWebhook("X-Goog-Signature does not match", status=401)
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidWebhook("message.data is not JSON") from exc
    if not isinstance(payload, dict):
        raise InvalidWebhook("message.data is not a JSON object")
    return payload


def parse_time_ms(value: Any, default: int) -> int:
    """RFC 3339 (Z-normalised, 0 to 9 fractional digits) to epoch ms."""
    if not isinstance(value, str) or not value:
        return default
    text = value.replace("z", "Z").replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:min(digits, 6)].ljust(6, '0')}{rest[digits:]}"
    try:
        return int(datetime.fromisoformat(text).timestamp() * 1000)
    except ValueError:
        return default


def _contact_content(payload: dict[str, Any]) -> dict[str, Any] | None:
    if isinstance(payload.get("suggestionResponse"), dict):
        response = payload["suggestionResponse"]
        message_id, postback = decode_postback(str(response.get("postbackData") or ""))
        if message_id is not None:
            return {"choice_response_message": {"message_id": message_id, "postback_data": postback}}
        return {"text_message": {"text": str(response.get("text") or postback)}}
    if isinstance(payload.get("text"), str):
        return {"text_message": {"text": payload["text"]}}
    if isinstance(payload.get("location"), dict):
        loc = payload["location"]
        return {"location_message": {"coordinates": {"latitude": loc.get("latitude"),
                                                     "longitude": loc.get("longitude")},
                                     "title": "Shared location"}}
    if isinstance(payload.get("userFile"), dict):
        file = payload["userFile"]
        main = file.get("payload") or {}
        media: dict[str, Any] = {"url": str(main.get("fileUri", ""))}
        if (file.get("thumbnail") or {}).get("fileUri"):
            media["thumbnail_url"] = str(file["thumbnail"]["fileUri"])
        if main.get("fileName"):
            media["filename_override"] = str(main["fileName"])
        return {"media_message": media}
    return None


def events_from(payload: dict[str, Any], app_id: str, now_ms: int) -> list[ChannelEvent]:
    """The events one decoded UserMessage / UserEvent carries (none for IS_TYPING and kinds we
    do not use)."""
    sender = payload.get("senderPhoneNumber")
    message_id = payload.get("messageId")
    at_ms = parse_time_ms(payload.get("sendTime"), now_ms)
    if not isinstance(message_id, str) or not isinstance(sender, str):
        raise InvalidWebhook("messageId and senderPhoneNumber are required")
    if "eventType" in payload:
        status = _STATUSES.get(str(payload["eventType"]))
        if status is None:
            return []
        return [StatusEvent(CHANNEL, message_id, status, at_ms)]  # type: ignore[arg-type]
    content = _contact_content(payload)
    if content is None:
        return []
    return [InboundEvent(CHANNEL, app_id, sender, message_id, at_ms, content)]


def routes(sink: ChannelEventSink, clock: Callable[[], int], on_inbound: OnInbound) -> list[BaseRoute]:
    """`POST /apps/{app_id}/webhook`: the verification handshake, then signed pushes stored via
    `sink` (200 only after commit, so Google redelivers anything not stored)."""

    async def webhook(request: Request) -> Response:
        app_id = request.path_params["app_id"]
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return PlainTextResponse("too large", 413)
        entry = await sink.credentials(app_id, CHANNEL)
        if entry is None:
            return PlainTextResponse("unknown app", 404)
        try:
            creds = RbmCredentials.from_entry(entry)
        except ChannelAuthError:
            return PlainTextResponse("app has no RCS credentials", 404)
        if creds.client_token is None:
            log.warning("RCS webhook for app %s refused: the app has no callback_secret (client token)", app_id)
            return PlainTextResponse("no client token configured", 403)
        handshake = _handshake(body)
        if handshake is not None:
            token, secret = handshake
            if not hmac.compare_digest(token.encode(), creds.client_token.encode()):
                return PlainTextResponse("client token mismatch", 403)
            return PlainTextResponse(secret)
        try:
            payload = verify(body, request.headers.get(SIGNATURE_HEADER), creds.client_token)
            agent = payload.get("agentId")
            if agent is not None and agent != creds.agent_id:
                log.warning("RCS webhook for app %s: event of agent %r dropped (app's agent is %r)",
                            app_id, agent, creds.agent_id)
                return Response(status_code=200)
            events = events_from(payload, app_id, clock())
        except InvalidWebhook as exc:
            return PlainTextResponse(str(exc), exc.status)
        if events:
            await sink.accept(events)
            inbound = [e for e in events if isinstance(e, InboundEvent)]
            if inbound:
                await on_inbound(creds, inbound)
        return Response(status_code=200)

    return [Route("/apps/{app_id}/webhook", webhook, methods=["POST"])]


def _handshake(body: bytes) -> tuple[str, str] | None:
    """(clientToken, secret) when the body is the webhook verification request."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, dict) and "message" not in data and isinstance(data.get("clientToken"), str) \
            and isinstance(data.get("secret"), str):
        return data["clientToken"], data["secret"]
    return None
