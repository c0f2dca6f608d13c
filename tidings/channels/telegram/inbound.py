"""Telegram webhook updates → `InboundEvent`s.

`POST /apps/{app_id}/webhook` takes one `Update` as JSON. Telegram signs nothing: the request must
carry `X-Telegram-Bot-Api-Secret-Token` equal to the secret given to `setWebhook` (compared in
constant time); otherwise 401 and nothing is stored. An app unknown or without TELEGRAM
credentials gets 404.

- `message` (private chats): text → `text_message` (with `reply_to_channel_message_id` when it
  answers one of ours); photo (largest size), video, animation, audio, voice, video note and
  document → `media_message {url}`, the URL from `getFile` (`{base}/file/bot{token}/{file_path}`,
  which holds the bot token: it goes only to the app's own callback); location → `location_message`,
  venue → `location_message` with title and address.
- `callback_query` (an inline button tapped) → `choice_response_message {postback_data}` answering
  the message that carried the keyboard (`reply_to_channel_message_id`), and `answerCallbackQuery`
  so the client stops its spinner. Hashed callback data (`tdgh:…`) is mapped back to the postback
  it stands for; when the mapping is gone (a restart) the button's own text is used.
- anything else (edited messages, groups' service messages) is acknowledged and dropped.
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from tidings.channels.contract import ChannelEventSink, InboundEvent
from tidings.channels.telegram.botapi import SECRET_HEADER, BotApiError
from tidings.channels.telegram.transcode import HASHED_PREFIX
from tidings.core.errors import DeliveryError

if TYPE_CHECKING:
    from tidings.channels.telegram.connector import TelegramConnector

__all__ = ["MEDIA_FIELDS", "file_id_of", "inbound_routes", "parse_update"]

log = logging.getLogger(__name__)

CHANNEL = "TELEGRAM"
MEDIA_FIELDS = ("photo", "video", "animation", "audio", "voice", "video_note", "document")


def file_id_of(message: dict[str, Any]) -> str | None:
    """The file id of a media message (the largest photo size), or None."""
    for name in MEDIA_FIELDS:
        media = message.get(name)
        if isinstance(media, list) and media:
            largest = max((m for m in media if isinstance(m, dict)),
                          key=lambda m: (m.get("width", 0) * m.get("height", 0), m.get("file_size", 0)), default=None)
            return str(largest["file_id"]) if largest and largest.get("file_id") else None
        if isinstance(media, dict) and media.get("file_id"):
            return str(media["file_id"])
    return None


def _name(user: dict[str, Any]) -> str | None:
    name = " ".join(str(x) for x in (user.get("first_name"), user.get("last_name")) if x)
    return name or user.get("username") or None


def _message_content(message: dict[str, Any], file_url: str | None) -> dict[str, Any] | None:
    if isinstance(message.get("text"), str):
        return {"text_message": {"text": message["text"]}}
    venue = message.get("venue")
    if isinstance(venue, dict):
        loc = venue.get("location") or {}
        out: dict[str, Any] = {"coordinates": {"latitude": loc.get("latitude"), "longitude": loc.get("longitude")}}
        if venue.get("title"):
            out["title"] = venue["title"]
        if venue.get("address"):
            out["label"] = venue["address"]
        return {"location_message": out}
    loc = message.get("location")
    if isinstance(loc, dict):
        return {"location_message": {"coordinates": {"latitude": loc.get("latitude"),
                                                     "longitude": loc.get("longitude")}}}
    if file_url:
        return {"media_message": {"url": file_url}}
    return None


def _button_text(message: dict[str, Any], data: str) -> str | None:
    for row in (message.get("reply_markup") or {}).get("inline_keyboard") or []:
        for button in row or []:
            if isinstance(button, dict) and button.get("callback_data") == data:
                return str(button.get("text") or "") or None
    return None


def parse_update(update: dict[str, Any], app_id: str, *, postbacks: dict[str, str] | None = None,
                 file_url: str | None = None, now_ms: int = 0) -> list[InboundEvent]:
    """The events in one Update (`file_url`: the looked-up URL of its media, if any)."""
    message = update.get("message")
    if isinstance(message, dict) and isinstance(message.get("chat"), dict) and message.get("message_id") is not None:
        chat = message["chat"]
        if chat.get("type", "private") != "private":
            return []
        content = _message_content(message, file_url)
        if content is None:
            return []
        chat_id = str(chat["id"])
        reply = message.get("reply_to_message")
        return [InboundEvent(
            channel=CHANNEL, app_id=app_id, identity=chat_id,
            channel_message_id=f"{chat_id}:{message['message_id']}",
            at_ms=int(message.get("date") or 0) * 1000 or now_ms, content=content,
            display_name=_name(message.get("from") or chat),
            reply_to_channel_message_id=f"{chat_id}:{reply['message_id']}"
            if isinstance(reply, dict) and reply.get("message_id") is not None else None)]
    query = update.get("callback_query")
    if isinstance(query, dict) and query.get("id") and isinstance(query.get("data"), str):
        sender = query.get("from") or {}
        raw_origin = query.get("message")
        origin: dict[str, Any] = raw_origin if isinstance(raw_origin, dict) else {}
        chat_id = str((origin.get("chat") or {}).get("id") or sender.get("id") or "")
        if not chat_id:
            return []
        data = query["data"]
        postback = data
        if data.startswith(HASHED_PREFIX):
            postback = (postbacks or {}).get(data) or _button_text(origin, data) or data
        return [InboundEvent(
            channel=CHANNEL, app_id=app_id, identity=chat_id, channel_message_id=f"callback:{query['id']}",
            at_ms=now_ms, content={"choice_response_message": {"message_id": "", "postback_data": postback}},
            display_name=_name(sender),
            reply_to_channel_message_id=f"{chat_id}:{origin['message_id']}"
            if origin.get("message_id") is not None else None)]
    return []


def inbound_routes(connector: TelegramConnector, sink: ChannelEventSink) -> list[BaseRoute]:
    async def receive(request: Request) -> Response:
        app_id = request.path_params["app_id"]
        credentials = await sink.credentials(app_id, CHANNEL)
        if credentials is None:
            return PlainTextResponse("unknown app", status_code=404)
        expected = connector.secret_token(app_id, credentials)
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return PlainTextResponse("invalid secret token", status_code=401)
        try:
            update = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return PlainTextResponse("invalid JSON", status_code=400)
        if not isinstance(update, dict):
            return PlainTextResponse("invalid update", status_code=400)
        token = str((credentials.get("telegram_credentials") or {}).get("token") or "")
        file_url = None
        message = update.get("message")
        file_id = file_id_of(message) if isinstance(message, dict) else None
        if file_id is not None:
            file_url = await _file_url(connector, token, file_id)
        events = parse_update(update, app_id, postbacks=connector.postbacks, file_url=file_url,
                              now_ms=connector.ctx.clock())
        if events:
            await sink.accept(events)
        query = update.get("callback_query")
        if isinstance(query, dict) and query.get("id"):
            await _answer(connector, token, str(query["id"]))
        return PlainTextResponse("ok")

    return [Route("/apps/{app_id}/webhook", receive, methods=["POST"])]


async def _file_url(connector: TelegramConnector, token: str, file_id: str) -> str | None:
    try:
        result = await connector.call(token, "getFile", {"file_id": file_id})
    except (BotApiError, DeliveryError):
        log.warning("telegram: getFile %s failed", file_id, exc_info=True)
        return None
    path = (result or {}).get("file_path")
    return f"{connector.base_url}/file/bot{token}/{path}" if path else None


async def _answer(connector: TelegramConnector, token: str, query_id: str) -> None:
    try:
        await connector.call(token, "answerCallbackQuery", {"callback_query_id": query_id})
    except (BotApiError, DeliveryError):
        log.warning("telegram: answerCallbackQuery %s failed", query_id, exc_info=True)
