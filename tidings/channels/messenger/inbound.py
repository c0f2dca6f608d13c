"""Messenger Platform webhooks → `StatusEvent` / `InboundEvent`.

`GET  /apps/{app_id}/webhook` answers Meta's verification (`hub.mode=subscribe`,
`hub.verify_token`, `hub.challenge` echoed back as text/plain).
`POST /apps/{app_id}/webhook` takes `{"object": "page", "entry": [{"id": <page id>, "time",
"messaging": [...]}]}` signed `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw
body)>` with the app's `callback_secret`; an app without one, or a bad signature, gets 401 and
nothing is stored. Only entries for the app's own page (when its id is known) are taken.

Messaging events (`sender.id` is the person's PSID, `recipient.id` the page):
- `message` → text, a tapped quick reply (`quick_reply.payload` → `choice_response_message`),
  attachments (image/video/audio/file → `media_message`, location → `location_message`,
  fallback links → text); echoes of our own messages (`is_echo`) are skipped;
- `postback` (a tapped postback button) → `choice_response_message`;
- `delivery` {`mids`, `watermark`} → DELIVERED for the listed mids and, through the `SentLog`,
  every message sent to that person up to the watermark; `read` {`watermark`} → one READ
  watermark `StatusEvent` (`channel_message_id=""`, `identity`, `up_to_ms`), which the event
  processor applies to every stored send to that PSID up to then — whichever process sent them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute

from tidings.channels.contract import (
    ChannelEvent,
    ChannelEventSink,
    InboundEvent,
    StatusEvent,
)
from tidings.channels.graph_common import webhook_routes
from tidings.channels.messenger.sent import SentLog

if TYPE_CHECKING:
    from tidings.channels.messenger.connector import MessengerConnector

__all__ = ["CHANNEL", "inbound_routes", "parse_webhook", "restore"]

CHANNEL = "MESSENGER"
MEDIA_TYPES = ("image", "video", "audio", "file")


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _attachment(attachment: dict[str, Any]) -> dict[str, Any] | None:
    kind = attachment.get("type")
    payload = attachment.get("payload") or {}
    if not isinstance(payload, dict):
        return None
    if kind in MEDIA_TYPES and payload.get("url"):
        return {"media_message": {"url": str(payload["url"])}}
    if kind == "location":
        coords = payload.get("coordinates") or {}
        if coords.get("lat") is None or coords.get("long") is None:
            return None
        out: dict[str, Any] = {"coordinates": {"latitude": coords["lat"], "longitude": coords["long"]}}
        if attachment.get("title"):
            out["title"] = str(attachment["title"])
        return {"location_message": out}
    if kind == "fallback" and (payload.get("url") or attachment.get("url")):
        return {"text_message": {"text": str(payload.get("url") or attachment.get("url"))}}
    return None


def _message_contents(message: dict[str, Any]) -> list[dict[str, Any]]:
    quick = message.get("quick_reply") or {}
    if isinstance(quick, dict) and quick.get("payload") is not None:
        return [{"choice_response_message": {"message_id": "", "postback_data": str(quick["payload"])}}]
    out = []
    if isinstance(message.get("text"), str) and message["text"]:
        out.append({"text_message": {"text": message["text"]}})
    for attachment in message.get("attachments") or []:
        if isinstance(attachment, dict):
            content = _attachment(attachment)
            if content is not None:
                out.append(content)
    return out


Mark = tuple[str, str, str]  # (PSID, mid, status) to note in the SentLog
Undo = tuple[str, str, tuple[bool, bool]]  # (PSID, mid, its state before)


def _events(item: dict[str, Any], app_id: str, log: SentLog | None, marks: list[Mark]) -> list[ChannelEvent]:
    psid = str((item.get("sender") or {}).get("id") or "")
    if not psid:
        return []
    at = _int(item.get("timestamp")) or 0
    events: list[ChannelEvent] = []
    delivery = item.get("delivery")
    if isinstance(delivery, dict):
        watermark = _int(delivery.get("watermark"))
        mids = [str(m) for m in delivery.get("mids") or [] if m]
        delivered = log.delivered(app_id, psid, watermark, mids) if log is not None else mids
        events.extend(StatusEvent(CHANNEL, mid, "DELIVERED", watermark or at) for mid in delivered)
        marks.extend((psid, mid, "DELIVERED") for mid in delivered)
    read = item.get("read")
    if isinstance(read, dict) and _int(read.get("watermark")) is not None:
        # One watermark event, resolved from the stored sends by whichever process applies it.
        watermark = _int(read["watermark"]) or 0
        events.append(StatusEvent(CHANNEL, "", "READ", watermark, identity=psid, up_to_ms=watermark,
                                  app_id=app_id))
    postback = item.get("postback")
    if isinstance(postback, dict) and postback.get("payload") is not None:
        payload = str(postback["payload"])
        events.append(InboundEvent(
            channel=CHANNEL, app_id=app_id, identity=psid,
            channel_message_id=str(postback.get("mid") or f"postback.{psid}.{at}"), at_ms=at,
            content={"choice_response_message": {"message_id": "", "postback_data": payload}},
            reply_to_channel_message_id=log.offered(app_id, psid, payload) if log is not None else None))
    message = item.get("message")
    if isinstance(message, dict) and message.get("mid") and not message.get("is_echo"):
        mid = str(message["mid"])
        reply_to = (message.get("reply_to") or {}).get("mid")
        quick = (message.get("quick_reply") or {}).get("payload")
        if quick is not None and log is not None:
            reply_to = reply_to or log.offered(app_id, psid, str(quick))
        for index, content in enumerate(_message_contents(message)):
            events.append(InboundEvent(
                channel=CHANNEL, app_id=app_id, identity=psid,
                channel_message_id=mid if index == 0 else f"{mid}#{index}", at_ms=at, content=content,
                reply_to_channel_message_id=str(reply_to) if reply_to else None))
    return events


def parse_webhook(payload: dict[str, Any], app_id: str, *, page_id: str | None = None,
                  log: SentLog | None = None, undo: list[Undo] | None = None) -> list[ChannelEvent]:
    """The events in one webhook delivery (only for `page_id` when given). Statuses reported
    through `log` are noted there at once (so a concurrent delivery does not report them again);
    `undo` collects what `restore` needs should the events not be stored."""
    marks: list[Mark] = []
    events = _parse(payload, app_id, page_id, log, marks)
    if log is not None:
        for psid, mid, status in marks:
            before = log.mark(app_id, psid, mid, status)
            if before is not None and undo is not None:
                undo.append((psid, mid, before))
    return events


def restore(log: SentLog, app_id: str, undo: list[Undo]) -> None:
    for psid, mid, before in reversed(undo):
        log.restore(app_id, psid, mid, before)


def _parse(payload: dict[str, Any], app_id: str, page_id: str | None, log: SentLog | None,
           marks: list[Mark]) -> list[ChannelEvent]:
    if payload.get("object") != "page":
        return []
    events: list[ChannelEvent] = []
    for entry in payload.get("entry") or []:
        if not isinstance(entry, dict) or (page_id is not None and str(entry.get("id")) != page_id):
            continue
        for item in entry.get("messaging") or []:
            if isinstance(item, dict):
                events.extend(_events(item, app_id, log, marks))
    return events


def inbound_routes(connector: MessengerConnector, sink: ChannelEventSink) -> list[BaseRoute]:
    async def handle(app_id: str, credentials: dict[str, Any], payload: dict[str, Any]) -> None:
        undo: list[Undo] = []
        events = parse_webhook(payload, app_id, page_id=connector.page_id_of(credentials), log=connector.sent,
                               undo=undo)
        if events:
            try:
                await sink.accept(events)
            except BaseException:
                restore(connector.sent, app_id, undo)
                raise

    return webhook_routes(CHANNEL, sink, connector.verify_token, handle)
