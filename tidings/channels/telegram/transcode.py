"""Conversation API AppMessage → Telegram Bot API calls (`sendMessage`, `sendPhoto`, …), without
the `chat_id` (the connector adds it).

Native on Telegram: text, media (photo, video, animation, audio, document by URL), cards (the
media with its caption and an inline keyboard), choices (inline keyboard: a reply choice is a
`callback_data` button, a URL or a location choice a `url` button), locations (`sendLocation`, or
`sendVenue` when it has a title), lists (a button per item), contact cards (`sendContact`), and
carousels (one card after the other, or one album through `sendMediaGroup` when the cards are
pictures without choices). Dial and calendar choices, which an inline button cannot carry, become
lines of the text (tidings/conversations/degrade.py's labels); templates become their text form.

`callback_data` is at most 64 bytes: a longer postback_data is sent as `tdgh:<hash>` and the
mapping back is returned in `Rendered.postbacks` for the connector to remember.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

from tidings.channels.telegram.botapi import (
    MAX_CALLBACK_DATA,
    MAX_CAPTION,
    MAX_MEDIA_GROUP,
    MAX_TEXT,
    MIN_MEDIA_GROUP,
)
from tidings.conversations.degrade import (
    as_text,
    choice_label,
    kind_of,
    map_link,
    numbered_choices,
)

__all__ = ["HASHED_PREFIX", "Call", "Rendered", "TranscodeError", "callback_data", "media_method", "transcode"]

HASHED_PREFIX = "tdgh:"
_PHOTO = (".jpg", ".jpeg", ".png", ".webp")
_VIDEO = (".mp4", ".mov", ".m4v")
_AUDIO = (".mp3", ".m4a", ".ogg", ".oga", ".flac")
_MEDIA_FIELD = {"sendPhoto": "photo", "sendVideo": "video", "sendAnimation": "animation",
                "sendAudio": "audio", "sendDocument": "document"}


class TranscodeError(ValueError):
    """Nothing Telegram could show (an empty message, a kind we do not know)."""


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]


@dataclass
class Rendered:
    calls: list[Call] = field(default_factory=list)
    postbacks: dict[str, str] = field(default_factory=dict)  # hashed callback_data -> postback_data


def media_method(url: str) -> str:
    """The send method for a media URL, by its extension (a document when unknown)."""
    path = url.split("?", 1)[0].split("#", 1)[0].lower()
    if path.endswith(".gif"):
        return "sendAnimation"
    if path.endswith(_PHOTO):
        return "sendPhoto"
    if path.endswith(_VIDEO):
        return "sendVideo"
    if path.endswith(_AUDIO):
        return "sendAudio"
    return "sendDocument"


def callback_data(postback: str) -> str:
    """`postback` when it fits 64 bytes, else `tdgh:` + a 22-character hash of it."""
    if 0 < len(postback.encode()) <= MAX_CALLBACK_DATA:
        return postback
    digest = hashlib.sha256(postback.encode()).digest()
    return HASHED_PREFIX + base64.urlsafe_b64encode(digest).decode()[:22]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Builder:
    def __init__(self) -> None:
        self.out = Rendered()

    def add(self, method: str, **params: Any) -> None:
        self.out.calls.append(Call(method, params))

    def button(self, choice: dict[str, Any]) -> dict[str, Any] | None:
        """An inline keyboard button for a choice, or None when it must be a line of text."""
        label = choice_label(choice)
        if isinstance(choice.get("text_message"), dict):
            text = str(choice["text_message"].get("text") or "") or str(choice.get("postback_data") or "")
            postback = str(choice.get("postback_data") or text or "choice")
            data = callback_data(postback)
            if data != postback:
                self.out.postbacks[data] = postback
            return {"text": text or postback, "callback_data": data}
        if isinstance(choice.get("url_message"), dict):
            url = str(choice["url_message"].get("url") or "")
            if url.startswith(("https://", "http://", "tg://")):
                return {"text": str(choice["url_message"].get("title") or url), "url": url}
            return None
        if isinstance(choice.get("location_message"), dict):
            loc = choice["location_message"]
            coords = loc.get("coordinates") or {}
            return {"text": str(loc.get("title") or loc.get("label") or label),
                    "url": map_link(coords.get("latitude"), coords.get("longitude"))}
        return None

    def keyboard(self, choices: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, list[str]]:
        """(the inline keyboard, one button per row; the lines for choices no button can carry)."""
        rows, lines = [], []
        for choice in choices:
            button = self.button(choice)
            if button is None:
                lines.append(choice_label(choice))
            else:
                rows.append([button])
        return ({"inline_keyboard": rows} if rows else None), lines

    def text(self, text: str, markup: dict[str, Any] | None = None) -> None:
        if not text.strip():
            raise TranscodeError("nothing to send: the message has no text")
        chunks = [text[i : i + MAX_TEXT] for i in range(0, len(text), MAX_TEXT)]
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            if last and markup is not None:
                self.add("sendMessage", text=chunk, reply_markup=markup)
            else:
                self.add("sendMessage", text=chunk)

    def media(self, url: str, caption: str = "", markup: dict[str, Any] | None = None) -> None:
        method = media_method(url)
        params: dict[str, Any] = {_MEDIA_FIELD[method]: url}
        if caption and len(caption) <= MAX_CAPTION:
            params["caption"] = caption
        if markup is not None and (not caption or len(caption) <= MAX_CAPTION):
            params["reply_markup"] = markup
        self.add(method, **params)
        if caption and len(caption) > MAX_CAPTION:
            self.text(caption, markup)

    def card(self, card: dict[str, Any], extra: list[dict[str, Any]] | None = None) -> None:
        choices = [c for c in card.get("choices") or [] if isinstance(c, dict)] + (extra or [])
        markup, lines = self.keyboard(choices)
        parts = [str(x) for x in (card.get("title"), card.get("description")) if x]
        caption = "\n\n".join(parts)
        if lines:
            caption = "\n".join([caption, *lines]) if caption else "\n".join(lines)
        url = (card.get("media_message") or {}).get("url")
        if url:
            self.media(str(url), caption, markup)
        else:
            self.text(caption, markup)


def _carousel(b: _Builder, body: dict[str, Any]) -> None:
    cards = [c for c in body.get("cards") or [] if isinstance(c, dict)]
    tail = [c for c in body.get("choices") or [] if isinstance(c, dict)]
    pictures = [str((c.get("media_message") or {}).get("url") or "") for c in cards]
    album = (MIN_MEDIA_GROUP <= len(cards) <= MAX_MEDIA_GROUP and not tail
             and not any(c.get("choices") for c in cards)
             and all(url and media_method(url) == "sendPhoto" for url in pictures))
    if album:
        media = []
        for card, url in zip(cards, pictures, strict=True):
            item: dict[str, Any] = {"type": "photo", "media": url}
            caption = "\n\n".join(str(x) for x in (card.get("title"), card.get("description")) if x)
            if caption:
                item["caption"] = _clip(caption, MAX_CAPTION)
            media.append(item)
        b.add("sendMediaGroup", media=media)
        return
    if not cards:
        raise TranscodeError("a carousel needs cards")
    for i, card in enumerate(cards):
        b.card(card, tail if i == len(cards) - 1 else None)


def _location(b: _Builder, body: dict[str, Any]) -> None:
    coords = body.get("coordinates") or {}
    lat, lon = coords.get("latitude"), coords.get("longitude")
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        raise TranscodeError("a location needs numeric coordinates")
    title = body.get("title") or body.get("label")
    if title:
        b.add("sendVenue", latitude=lat, longitude=lon, title=str(title),
              address=str(body.get("label") or body.get("title")))
    else:
        b.add("sendLocation", latitude=lat, longitude=lon)


def _list(b: _Builder, content: dict[str, Any]) -> None:
    body = content["list_message"]
    markup, lines = b.keyboard(numbered_choices(content))
    text = "\n".join(str(x) for x in (body.get("title"), body.get("description"), *lines) if x)
    b.text(text or as_text(content), markup)


def _contact(b: _Builder, content: dict[str, Any]) -> None:
    body = content["contact_info_message"]
    phones = [p for p in body.get("phone_numbers") or [] if isinstance(p, dict) and p.get("phone_number")]
    name = body.get("name") or {}
    first = name.get("first_name") or name.get("full_name") or ""
    if phones and first:
        params: dict[str, Any] = {"phone_number": str(phones[0]["phone_number"]), "first_name": str(first)}
        if name.get("last_name"):
            params["last_name"] = str(name["last_name"])
        b.add("sendContact", **params)
        return
    b.text(as_text(content))


def transcode(content: dict[str, Any]) -> Rendered:
    """The Bot API calls that show `content`, in order."""
    kind = kind_of(content)
    if kind is None:
        raise TranscodeError("the message has no kind Telegram can send")
    body = content[kind]
    b = _Builder()
    if kind == "text_message":
        b.text(str(body.get("text") or ""))
    elif kind == "media_message":
        url = body.get("url")
        if not url:
            raise TranscodeError("a media message needs a url")
        b.media(str(url))
    elif kind == "card_message":
        b.card(body)
    elif kind == "carousel_message":
        _carousel(b, body)
    elif kind == "choice_message":
        choices = [c for c in body.get("choices") or [] if isinstance(c, dict)]
        markup, lines = b.keyboard(choices)
        text = str((body.get("text_message") or {}).get("text") or "")
        b.text("\n".join(x for x in (text, *lines) if x) or as_text(content), markup)
    elif kind == "location_message":
        _location(b, body)
    elif kind == "list_message":
        _list(b, content)
    elif kind == "contact_info_message":
        _contact(b, content)
    else:  # template_message: Telegram has no templates
        b.text(as_text(content))
    return b.out
