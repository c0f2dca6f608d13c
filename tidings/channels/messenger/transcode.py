"""Conversation API AppMessage → Messenger Send API `message` objects.

`transcode(content)` returns one or more `message` objects (`{"text": ...}` or
`{"attachment": ...}`, possibly with `quick_replies`), sent in order; the connector wraps each in
the `recipient` / `messaging_type` envelope.

- text → `text` (split at 2,000 characters); media → `image` / `video` / `audio` / `file`
  attachment by type;
- choice → reply choices only (≤ 13): text with `quick_replies`; otherwise a `button` template
  (≤ 3 buttons: postback, web_url, phone_number), extra reply choices as quick replies;
- card → a `generic` template with one element (title, subtitle, image, ≤ 3 buttons), extra
  reply choices as quick replies;
- carousel → a `generic` template with one element per card (≤ 10), the carousel's own reply
  choices as quick replies, its action choices in a following `button` template;
- location → a `generic` element with an "Open map" `web_url` button;
- list → its title and description as text, then a `generic` template with one element per item
  and a "Select" postback button (≤ 10 items; ≤ 13 become quick replies under the text);
- template, contact info, and whatever does not fit the limits above → `degrade.as_text`, with
  its reply choices as quick replies when there are at most 13;
- `explicit_channel_message.MESSENGER` (a JSON string) is sent as it is.

Postback payloads are the choice's `postback_data` (else its text), so a tap comes back as that
postback.
"""

from __future__ import annotations

import mimetypes
from posixpath import splitext
from typing import Any
from urllib.parse import urlparse

import orjson

from tidings.channels.messenger.graph import ErrorCode
from tidings.conversations.degrade import (
    as_text,
    choice_label,
    kind_of,
    map_link,
    numbered_choices,
)

__all__ = ["Limits", "TranscodeError", "attachment_type", "transcode"]

Payload = dict[str, Any]


class Limits:
    TEXT = 2000
    BUTTON_TEMPLATE_TEXT = 640
    QUICK_REPLIES = 13
    QUICK_REPLY_TITLE = 20
    PAYLOAD = 1000
    BUTTONS = 3
    BUTTON_TITLE = 20
    ELEMENTS = 10
    ELEMENT_TITLE = 80
    ELEMENT_SUBTITLE = 80


class TranscodeError(ValueError):
    """The message cannot be expressed on Messenger at all; `code` is the Graph code it would get."""

    def __init__(self, text: str, code: int = ErrorCode.INVALID_PARAMETER) -> None:
        super().__init__(text)
        self.code = code


_AUDIO = {".mp3", ".m4a", ".aac", ".ogg", ".oga", ".wav", ".amr", ".opus"}
_VIDEO = {".mp4", ".mov", ".3gp", ".webm", ".m4v"}
_IMAGE = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp"}


def attachment_type(url: str) -> str:
    """`image`, `video`, `audio` or `file`, from the URL's file extension."""
    ext = splitext(urlparse(url).path)[1].lower()
    if ext in _IMAGE:
        return "image"
    if ext in _VIDEO:
        return "video"
    if ext in _AUDIO:
        return "audio"
    guessed = mimetypes.guess_type("x" + ext)[0] or ""
    major = guessed.split("/", 1)[0]
    return major if major in ("image", "video", "audio") else "file"


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _split(text: str, limit: int = Limits.TEXT) -> list[str]:
    if not text:
        return []
    return [text[i:i + limit] for i in range(0, len(text), limit)]


def _payload_of(choice: dict[str, Any]) -> str:
    payload = str(choice.get("postback_data") or choice_label(choice) or "")
    if len(payload) > Limits.PAYLOAD:
        raise TranscodeError(f"postback_data longer than {Limits.PAYLOAD} characters")
    return payload


def _is_reply(choice: dict[str, Any]) -> bool:
    return isinstance(choice.get("text_message"), dict)


def _quick_reply(choice: dict[str, Any]) -> Payload:
    title = _fit(choice_label(choice) or _payload_of(choice), Limits.QUICK_REPLY_TITLE)
    return {"content_type": "text", "title": title, "payload": _payload_of(choice)}


def _button(choice: dict[str, Any]) -> Payload:
    if isinstance(choice.get("url_message"), dict):
        url = choice["url_message"]
        return {"type": "web_url", "url": str(url.get("url", "")),
                "title": _fit(str(url.get("title") or "Open"), Limits.BUTTON_TITLE)}
    if isinstance(choice.get("call_message"), dict):
        call = choice["call_message"]
        number = str(call.get("phone_number", ""))
        return {"type": "phone_number", "title": _fit(str(call.get("title") or number), Limits.BUTTON_TITLE),
                "payload": number if number.startswith("+") else "+" + number}
    if isinstance(choice.get("location_message"), dict):
        loc = choice["location_message"]
        coords = loc.get("coordinates") or {}
        return {"type": "web_url", "url": map_link(coords.get("latitude"), coords.get("longitude")),
                "title": _fit(str(loc.get("title") or loc.get("label") or "Show location"), Limits.BUTTON_TITLE)}
    calendar = choice.get("calendar_message")
    if isinstance(calendar, dict) and calendar.get("fallback_url"):
        return {"type": "web_url", "url": str(calendar["fallback_url"]),
                "title": _fit(str(calendar.get("title") or "Add to calendar"), Limits.BUTTON_TITLE)}
    title = choice_label(choice) or _payload_of(choice)
    if isinstance(calendar, dict):
        title = str(calendar.get("title") or calendar.get("event_title") or "Add to calendar")
    return {"type": "postback", "title": _fit(title, Limits.BUTTON_TITLE), "payload": _payload_of(choice)}


def _arrange(choices: list[dict[str, Any]]) -> tuple[list[Payload], list[Payload]] | None:
    """(buttons, quick replies) for `choices`, or None when they do not fit: up to 3 become
    buttons in order; beyond that action choices (URL, dial…) are the buttons and reply choices
    quick replies."""
    if len(choices) <= Limits.BUTTONS:
        return [_button(c) for c in choices], []
    actions = [c for c in choices if not _is_reply(c)]
    replies = [c for c in choices if _is_reply(c)]
    if len(actions) > Limits.BUTTONS or len(replies) > Limits.QUICK_REPLIES:
        return None
    return [_button(c) for c in actions], [_quick_reply(c) for c in replies]


def _with_quick_replies(message: Payload, quick: list[Payload]) -> Payload:
    return {**message, "quick_replies": quick} if quick else message


def _degraded(content: dict[str, Any]) -> list[Payload]:
    """Plain text (numbered choices) with the reply choices as quick replies when they fit."""
    parts = _split(as_text(content))
    if not parts:
        raise TranscodeError("the message has nothing Messenger can show")
    replies = [c for c in numbered_choices(content) if _is_reply(c)]
    out: list[Payload] = [{"text": p} for p in parts]
    if replies and len(replies) <= Limits.QUICK_REPLIES:
        out[-1] = _with_quick_replies(out[-1], [_quick_reply(c) for c in replies])
    return out


def _template(payload: Payload) -> Payload:
    return {"attachment": {"type": "template", "payload": payload}}


def _element(card: dict[str, Any], buttons: list[Payload]) -> Payload:
    title = str(card.get("title") or "")
    description = str(card.get("description") or "")
    element: Payload = {"title": _fit(title or description or "…", Limits.ELEMENT_TITLE)}
    if title and description:
        element["subtitle"] = _fit(description, Limits.ELEMENT_SUBTITLE)
    url = (card.get("media_message") or {}).get("url")
    if url and attachment_type(str(url)) in ("image", "file"):
        element["image_url"] = str(url)
    if buttons:
        element["buttons"] = buttons
    return element


def _media(body: dict[str, Any]) -> list[Payload]:
    url = str(body.get("url") or "")
    if not url:
        raise TranscodeError("media_message.url is required")
    return [{"attachment": {"type": attachment_type(url), "payload": {"url": url, "is_reusable": True}}}]


def _choice(body: dict[str, Any], content: dict[str, Any]) -> list[Payload]:
    text = str((body.get("text_message") or {}).get("text") or "")
    choices = [c for c in body.get("choices") or [] if isinstance(c, dict)]
    if not choices:
        return [{"text": p} for p in _split(text)] or _degraded(content)
    if all(_is_reply(c) for c in choices) and len(choices) <= Limits.QUICK_REPLIES and text \
            and len(text) <= Limits.TEXT:
        return [{"text": text, "quick_replies": [_quick_reply(c) for c in choices]}]
    arranged = _arrange(choices)
    if arranged is None or len(text) > Limits.BUTTON_TEMPLATE_TEXT:
        return _degraded(content)
    buttons, quick = arranged
    return [_with_quick_replies(_template({"template_type": "button", "text": text or "…", "buttons": buttons}),
                                quick)]


def _card(body: dict[str, Any], content: dict[str, Any]) -> list[Payload]:
    choices = [c for c in body.get("choices") or [] if isinstance(c, dict)]
    arranged = _arrange(choices)
    if arranged is None:
        return _degraded(content)
    url = (body.get("media_message") or {}).get("url")
    if url and not choices and not body.get("title") and not body.get("description"):
        return _media(body["media_message"])
    buttons, quick = arranged
    out: list[Payload] = []
    if url and attachment_type(str(url)) in ("video", "audio"):
        out.extend(_media(body["media_message"]))
    out.append(_with_quick_replies(_template({"template_type": "generic", "elements": [_element(body, buttons)]}),
                                   quick))
    return out


def _carousel(body: dict[str, Any], content: dict[str, Any]) -> list[Payload]:
    cards = [c for c in body.get("cards") or [] if isinstance(c, dict)]
    if not cards or len(cards) > Limits.ELEMENTS:
        return _degraded(content)
    elements = []
    for card in cards:
        choices = [c for c in card.get("choices") or [] if isinstance(c, dict)]
        if len(choices) > Limits.BUTTONS:
            return _degraded(content)
        elements.append(_element(card, [_button(c) for c in choices]))
    outer = [c for c in body.get("choices") or [] if isinstance(c, dict)]
    actions = [c for c in outer if not _is_reply(c)]
    replies = [c for c in outer if _is_reply(c)]
    if len(actions) > Limits.BUTTONS or len(replies) > Limits.QUICK_REPLIES:
        return _degraded(content)
    template = _template({"template_type": "generic", "image_aspect_ratio": "horizontal", "elements": elements})
    if not actions:
        return [_with_quick_replies(template, [_quick_reply(c) for c in replies])]
    follow = _template({"template_type": "button", "text": "More options", "buttons": [_button(c) for c in actions]})
    return [template, _with_quick_replies(follow, [_quick_reply(c) for c in replies])]


def _location(body: dict[str, Any]) -> list[Payload]:
    coords = body.get("coordinates") or {}
    if coords.get("latitude") is None or coords.get("longitude") is None:
        raise TranscodeError("location_message.coordinates needs latitude and longitude")
    element: Payload = {"title": _fit(str(body.get("title") or body.get("label") or "Location"), Limits.ELEMENT_TITLE),
                        "buttons": [{"type": "web_url", "title": "Open map",
                                     "url": map_link(coords["latitude"], coords["longitude"])}]}
    if body.get("title") and body.get("label"):
        element["subtitle"] = _fit(str(body["label"]), Limits.ELEMENT_SUBTITLE)
    return [_template({"template_type": "generic", "elements": [element]})]


def _list(body: dict[str, Any], content: dict[str, Any]) -> list[Payload]:
    items: list[dict[str, Any]] = []
    for section in body.get("sections") or []:
        for item in (section or {}).get("items") or []:
            if not isinstance((item or {}).get("choice"), dict):
                return _degraded(content)  # products need a catalog Messenger does not have here
            items.append(item["choice"])
    header = "\n".join(str(x) for x in (body.get("title"), body.get("description")) if x)
    if not items or len(items) > Limits.ELEMENTS:
        return _degraded(content)
    elements = []
    for item in items:
        element: Payload = {"title": _fit(str(item.get("title") or "…"), Limits.ELEMENT_TITLE),
                            "buttons": [{"type": "postback", "title": "Select",
                                         "payload": _payload_of({"text_message": {"text": item.get("title", "")},
                                                                 "postback_data": item.get("postback_data")})}]}
        if item.get("description"):
            element["subtitle"] = _fit(str(item["description"]), Limits.ELEMENT_SUBTITLE)
        media = (item.get("media") or {}).get("url")
        if media:
            element["image_url"] = str(media)
        elements.append(element)
    out: list[Payload] = [{"text": p} for p in _split(header)]
    out.append(_template({"template_type": "generic", "elements": elements}))
    return out


def transcode(content: dict[str, Any]) -> list[Payload]:
    """The Send API `message` objects for one AppMessage, in sending order."""
    explicit = (content.get("explicit_channel_message") or {}).get("MESSENGER")
    if explicit:
        try:
            message = orjson.loads(explicit) if isinstance(explicit, str) else explicit
        except orjson.JSONDecodeError as exc:
            raise TranscodeError("explicit_channel_message.MESSENGER is not JSON") from exc
        if not isinstance(message, dict):
            raise TranscodeError("explicit_channel_message.MESSENGER must be a JSON object")
        return [message]
    kind = kind_of(content)
    if kind is None:
        raise TranscodeError("the message has no kind Messenger knows")
    body = content[kind]
    if kind == "text_message":
        parts = _split(str(body.get("text") or ""))
        if not parts:
            raise TranscodeError("text_message.text is empty")
        return [{"text": p} for p in parts]
    if kind == "media_message":
        return _media(body)
    if kind == "choice_message":
        return _choice(body, content)
    if kind == "card_message":
        return _card(body, content)
    if kind == "carousel_message":
        return _carousel(body, content)
    if kind == "location_message":
        return _location(body)
    if kind == "list_message":
        return _list(body, content)
    return _degraded(content)
