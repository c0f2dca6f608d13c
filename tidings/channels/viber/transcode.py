"""Conversation API AppMessage → Viber `send_message` bodies (without receiver and sender), and
the ActionBody that carries a tapped choice back to its message.

Native on Viber: text, pictures (`picture`; other media go as a `url` message), cards and carousels
(`rich_media`: 6×7 button groups — an image, the title and description, up to the rows left of the
card's choices; at most 6 cards a message), choices (a `keyboard`: a reply choice is a `reply`
button, a URL or a location choice an `open-url` button), locations (`location`, after a text with
its title), lists (a keyboard button per item) and contact cards (`contact`). Dial and calendar
choices, which no button can carry, become lines of the text; templates become their text form
(tidings/conversations/degrade.py).

A reply button's ActionBody is `tdg1:{conversation message id}:{postback_data}` and silent: Viber
sends it back as the text of an ordinary message, and `decode_action_body` recovers both.
"""

from __future__ import annotations

import html
from typing import Any

from tidings.channels.viber.restapi import (
    MAX_KEYBOARD_BUTTONS,
    MAX_PICTURE_TEXT,
    MAX_RICH_MEDIA_GROUPS,
    MAX_TEXT,
    RICH_MEDIA_API_VERSION,
)
from tidings.conversations.degrade import (
    as_text,
    choice_label,
    kind_of,
    map_link,
    numbered_choices,
)

__all__ = ["ACTION_PREFIX", "TranscodeError", "decode_action_body", "encode_action_body", "transcode"]

ACTION_PREFIX = "tdg1:"
GROUP_COLUMNS, GROUP_ROWS = 6, 7
IMAGE_ROWS = 3
_PICTURE = (".jpg", ".jpeg", ".png", ".gif")

Payload = dict[str, Any]


class TranscodeError(ValueError):
    """Nothing Viber could show."""


def encode_action_body(message_id: str, postback: str) -> str:
    return f"{ACTION_PREFIX}{message_id}:{postback}"


def decode_action_body(text: str) -> tuple[str | None, str]:
    """(conversation message id, postback_data); (None, text) when the text is not ours."""
    if not text.startswith(ACTION_PREFIX):
        return None, text
    message_id, sep, postback = text[len(ACTION_PREFIX):].partition(":")
    if not sep or not message_id:
        return None, text
    return message_id, postback


def is_picture(url: str) -> bool:
    return url.split("?", 1)[0].split("#", 1)[0].lower().endswith(_PICTURE)


class _Builder:
    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        self.out: list[Payload] = []

    def button(self, choice: dict[str, Any], columns: int = 6, rows: int = 1) -> dict[str, Any] | None:
        base = {"Columns": columns, "Rows": rows}
        if isinstance(choice.get("text_message"), dict):
            text = str(choice["text_message"].get("text") or "")
            postback = str(choice.get("postback_data") or text or "choice")
            return {**base, "ActionType": "reply", "ActionBody": encode_action_body(self.message_id, postback),
                    "Text": text or postback, "Silent": True}
        if isinstance(choice.get("url_message"), dict):
            url = str(choice["url_message"].get("url") or "")
            if url.startswith(("https://", "http://", "viber://")):
                return {**base, "ActionType": "open-url", "ActionBody": url,
                        "Text": str(choice["url_message"].get("title") or url)}
            return None
        if isinstance(choice.get("location_message"), dict):
            loc = choice["location_message"]
            coords = loc.get("coordinates") or {}
            return {**base, "ActionType": "open-url",
                    "ActionBody": map_link(coords.get("latitude"), coords.get("longitude")),
                    "Text": str(loc.get("title") or loc.get("label") or choice_label(choice))}
        return None

    def keyboard(self, choices: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, list[str]]:
        buttons: list[dict[str, Any]] = []
        lines: list[str] = []
        for choice in choices:
            button = self.button(choice)
            if button is None or len(buttons) >= MAX_KEYBOARD_BUTTONS:
                lines.append(choice_label(choice))
            else:
                buttons.append(button)
        board = {"Type": "keyboard", "DefaultHeight": False, "Buttons": buttons} if buttons else None
        return board, lines

    def text(self, text: str, keyboard: dict[str, Any] | None = None) -> None:
        if not text.strip():
            raise TranscodeError("nothing to send: the message has no text")
        chunks = [text[i : i + MAX_TEXT] for i in range(0, len(text), MAX_TEXT)]
        for i, chunk in enumerate(chunks):
            payload: Payload = {"type": "text", "text": chunk}
            if keyboard is not None and i == len(chunks) - 1:
                payload |= {"keyboard": keyboard, "min_api_version": RICH_MEDIA_API_VERSION}
            self.out.append(payload)

    def media(self, url: str, thumbnail: str | None = None) -> None:
        if is_picture(url):
            payload: Payload = {"type": "picture", "text": "", "media": url}
            if thumbnail:
                payload["thumbnail"] = thumbnail
            self.out.append(payload)
        else:
            self.out.append({"type": "url", "media": url})

    def card_buttons(self, card: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(one 6×7 group of rich media buttons for the card; the choices that did not fit)."""
        buttons: list[dict[str, Any]] = []
        url = (card.get("media_message") or {}).get("url")
        image_rows = IMAGE_ROWS if url else 0
        if url:
            buttons.append({"Columns": GROUP_COLUMNS, "Rows": IMAGE_ROWS, "ActionType": "none", "Image": str(url)})
        choices = [c for c in card.get("choices") or [] if isinstance(c, dict)]
        fitting: list[dict[str, Any]] = []
        overflow: list[dict[str, Any]] = []
        lines: list[str] = []
        room = GROUP_ROWS - image_rows - 1
        for choice in choices:
            button = self.button(choice)
            if button is None:
                lines.append(choice_label(choice))
            elif len(fitting) < room:
                fitting.append(button)
            else:
                overflow.append(choice)
        parts = []
        if card.get("title"):
            parts.append(f"<b>{html.escape(str(card['title']), quote=False)}</b>")
        if card.get("description"):
            parts.append(html.escape(str(card["description"]), quote=False))
        parts.extend(html.escape(line, quote=False) for line in lines)
        buttons.append({"Columns": GROUP_COLUMNS, "Rows": GROUP_ROWS - image_rows - len(fitting),
                        "ActionType": "none", "Text": "<br>".join(parts), "TextSize": "medium",
                        "TextVAlign": "top", "TextHAlign": "left"})
        buttons.extend(fitting)
        return buttons, overflow

    def rich_media(self, cards: list[dict[str, Any]], extra: list[dict[str, Any]], alt_text: str) -> None:
        if not cards:
            raise TranscodeError("a carousel needs cards")
        overflow: list[dict[str, Any]] = []
        groups = []
        for card in cards:
            buttons, rest = self.card_buttons(card)
            groups.append(buttons)
            overflow.extend(rest)
        batches = [groups[i : i + MAX_RICH_MEDIA_GROUPS] for i in range(0, len(groups), MAX_RICH_MEDIA_GROUPS)]
        keyboard, lines = self.keyboard(overflow + extra)
        for i, batch in enumerate(batches):
            payload: Payload = {"type": "rich_media", "min_api_version": RICH_MEDIA_API_VERSION,
                                "rich_media": {"Type": "rich_media", "ButtonsGroupColumns": GROUP_COLUMNS,
                                               "ButtonsGroupRows": GROUP_ROWS, "BgColor": "#FFFFFF",
                                               "Buttons": [b for group in batch for b in group]},
                                "alt_text": alt_text[:MAX_TEXT] or "rich media"}
            if i == len(batches) - 1 and keyboard is not None:
                payload["keyboard"] = keyboard
            self.out.append(payload)
        if lines:
            self.text("\n".join(lines))


def _location(b: _Builder, body: dict[str, Any]) -> None:
    coords = body.get("coordinates") or {}
    lat, lon = coords.get("latitude"), coords.get("longitude")
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        raise TranscodeError("a location needs numeric coordinates")
    title = "\n".join(str(x) for x in (body.get("title"), body.get("label")) if x)
    if title:
        b.text(title)
    b.out.append({"type": "location", "location": {"lat": lat, "lon": lon}})


def _contact(b: _Builder, content: dict[str, Any]) -> None:
    body = content["contact_info_message"]
    phones = [p for p in body.get("phone_numbers") or [] if isinstance(p, dict) and p.get("phone_number")]
    name = body.get("name") or {}
    full = name.get("full_name") or " ".join(str(x) for x in (name.get("first_name"), name.get("last_name")) if x)
    if phones and full:
        b.out.append({"type": "contact", "contact": {"name": str(full)[:28],
                                                      "phone_number": str(phones[0]["phone_number"])[:18]}})
        return
    b.text(as_text(content))


def transcode(content: dict[str, Any], message_id: str) -> list[Payload]:
    """The send_message bodies that show `content`, in order."""
    kind = kind_of(content)
    if kind is None:
        raise TranscodeError("the message has no kind Viber can send")
    body = content[kind]
    b = _Builder(message_id)
    if kind == "text_message":
        b.text(str(body.get("text") or ""))
    elif kind == "media_message":
        if not body.get("url"):
            raise TranscodeError("a media message needs a url")
        b.media(str(body["url"]), body.get("thumbnail_url"))
    elif kind == "card_message":
        b.rich_media([body], [], as_text(content))
    elif kind == "carousel_message":
        cards = [c for c in body.get("cards") or [] if isinstance(c, dict)]
        b.rich_media(cards, [c for c in body.get("choices") or [] if isinstance(c, dict)], as_text(content))
    elif kind == "choice_message":
        keyboard, lines = b.keyboard([c for c in body.get("choices") or [] if isinstance(c, dict)])
        text = str((body.get("text_message") or {}).get("text") or "")
        b.text("\n".join(x for x in (text, *lines) if x) or as_text(content), keyboard)
    elif kind == "location_message":
        _location(b, body)
    elif kind == "list_message":
        keyboard, lines = b.keyboard(numbered_choices(content))
        text = "\n".join(str(x) for x in (body.get("title"), body.get("description"), *lines) if x)
        b.text(text or as_text(content), keyboard)
    elif kind == "contact_info_message":
        _contact(b, content)
    else:
        b.text(as_text(content))
    for payload in b.out:
        if payload["type"] == "picture" and len(payload["text"]) > MAX_PICTURE_TEXT:
            payload["text"] = payload["text"][: MAX_PICTURE_TEXT - 1] + "…"
    return b.out
