"""What the Viber twin checks in a `send_message` body and what a handset shows for it.

`validate(body)` raises `ViberFault(status, status_message)` the way the REST API refuses a
message (badData / missingData with a reason); `handset_text(body)` is the text a handset shows
(text, picture caption or URL, rich media texts, location link, then the keyboard buttons as
`[label]` / `[label: url]`); `reply_buttons(body)` are the buttons a handset can tap.
"""

from __future__ import annotations

import re
from typing import Any

from tidings.channels.viber.restapi import (
    MAX_KEYBOARD_BUTTONS,
    MAX_PICTURE_TEXT,
    MAX_RICH_MEDIA_GROUPS,
    MAX_SENDER_NAME,
    MAX_TEXT,
    Status,
)
from tidings.conversations.degrade import map_link

__all__ = ["MESSAGE_TYPES", "ViberFault", "buttons_of", "handset_text", "validate"]

MESSAGE_TYPES = frozenset({"text", "picture", "video", "file", "location", "contact", "sticker", "url",
                           "rich_media"})
ACTION_TYPES = frozenset({"reply", "open-url", "location-picker", "share-phone", "none"})
_TAG = re.compile(r"<[^>]+>")


class ViberFault(Exception):
    def __init__(self, status: int, status_message: str) -> None:
        super().__init__(status_message)
        self.status = status
        self.status_message = status_message


def _bad(reason: str) -> ViberFault:
    return ViberFault(Status.BAD_DATA, reason)


def _missing(reason: str) -> ViberFault:
    return ViberFault(Status.MISSING_DATA, reason)


def _url(value: Any, name: str) -> None:
    if not isinstance(value, str) or not value:
        raise _missing(f"{name} is missing")
    if not value.startswith(("http://", "https://")):
        raise _bad(f"{name} is not a valid URL")


def _buttons(buttons: Any, *, columns: int, rows: int, where: str) -> None:
    if not isinstance(buttons, list) or not buttons:
        raise _missing(f"{where}.Buttons is missing")
    for button in buttons:
        if not isinstance(button, dict):
            raise _bad(f"{where}.Buttons must hold objects")
        action = button.get("ActionType", "reply")
        if action not in ACTION_TYPES:
            raise _bad(f"{where}: unknown ActionType {action!r}")
        if action in ("reply", "open-url") and not isinstance(button.get("ActionBody"), str):
            raise _missing(f"{where}: ActionBody is missing")
        if action == "open-url":
            _url(button["ActionBody"], f"{where}: ActionBody")
        if not 1 <= int(button.get("Columns", columns)) <= columns or not 1 <= int(button.get("Rows", 1)) <= rows:
            raise _bad(f"{where}: button Columns must be 1-{columns} and Rows 1-{rows}")


def _keyboard(keyboard: Any) -> None:
    if keyboard is None:
        return
    if not isinstance(keyboard, dict) or keyboard.get("Type") != "keyboard":
        raise _bad("keyboard.Type must be \"keyboard\"")
    buttons = keyboard.get("Buttons")
    if isinstance(buttons, list) and len(buttons) > MAX_KEYBOARD_BUTTONS:
        raise _bad(f"keyboard has more than {MAX_KEYBOARD_BUTTONS} buttons")
    _buttons(buttons, columns=6, rows=2, where="keyboard")


def _rich_media(rich: Any) -> None:
    if not isinstance(rich, dict) or rich.get("Type") != "rich_media":
        raise _missing("rich_media is missing")
    columns, rows = rich.get("ButtonsGroupColumns", 6), rich.get("ButtonsGroupRows", 7)
    if not isinstance(columns, int) or not isinstance(rows, int) or not (1 <= columns <= 6 and 1 <= rows <= 7):
        raise _bad("ButtonsGroupColumns must be 1-6 and ButtonsGroupRows 1-7")
    buttons: list[dict[str, Any]] = rich.get("Buttons") or []
    _buttons(buttons, columns=columns, rows=rows, where="rich_media")
    area = sum(int(b.get("Columns", columns)) * int(b.get("Rows", 1)) for b in buttons)
    if area > MAX_RICH_MEDIA_GROUPS * columns * rows:
        raise _bad(f"rich_media holds more than {MAX_RICH_MEDIA_GROUPS} button groups")


def validate(body: dict[str, Any]) -> None:
    if not isinstance(body.get("receiver"), str) or not body["receiver"]:
        raise _missing("receiver is missing")
    sender = body.get("sender")
    if not isinstance(sender, dict) or not isinstance(sender.get("name"), str) or not sender["name"]:
        raise _missing("sender.name is missing")
    if len(sender["name"]) > MAX_SENDER_NAME:
        raise _bad(f"sender.name is longer than {MAX_SENDER_NAME} characters")
    kind = body.get("type")
    if kind not in MESSAGE_TYPES:
        raise _bad(f"unknown message type {kind!r}")
    if kind == "text":
        text = body.get("text")
        if not isinstance(text, str) or not text:
            raise _missing("text is missing")
        if len(text) > MAX_TEXT:
            raise _bad(f"text is longer than {MAX_TEXT} characters")
    elif kind == "picture":
        _url(body.get("media"), "media")
        if not isinstance(body.get("text", ""), str) or len(body.get("text", "")) > MAX_PICTURE_TEXT:
            raise _bad(f"picture text is longer than {MAX_PICTURE_TEXT} characters")
    elif kind in ("video", "file"):
        _url(body.get("media"), "media")
        if not isinstance(body.get("size"), int):
            raise _missing("size is missing")
        if kind == "file" and not body.get("file_name"):
            raise _missing("file_name is missing")
    elif kind == "url":
        _url(body.get("media"), "media")
    elif kind == "location":
        loc = body.get("location")
        if not isinstance(loc, dict) or not all(isinstance(loc.get(k), int | float) for k in ("lat", "lon")):
            raise _missing("location.lat and location.lon are required")
        if not (-90 <= loc["lat"] <= 90 and -180 <= loc["lon"] <= 180):
            raise _bad("location is out of range")
    elif kind == "contact":
        contact = body.get("contact")
        if not isinstance(contact, dict) or not contact.get("name") or not contact.get("phone_number"):
            raise _missing("contact.name and contact.phone_number are required")
    elif kind == "rich_media":
        _rich_media(body.get("rich_media"))
    _keyboard(body.get("keyboard"))


def buttons_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every button of the message (rich media first, then the keyboard)."""
    out: list[dict[str, Any]] = []
    for holder in (body.get("rich_media"), body.get("keyboard")):
        if isinstance(holder, dict):
            out.extend(b for b in holder.get("Buttons") or [] if isinstance(b, dict))
    return out


def handset_text(body: dict[str, Any]) -> str:
    kind = body.get("type")
    lines: list[str] = []
    if kind == "text":
        lines.append(str(body["text"]))
    elif kind == "picture":
        lines.append(str(body.get("text") or body["media"]))
    elif kind in ("video", "file", "url"):
        lines.append(str(body["media"]))
    elif kind == "location":
        lines.append(map_link(body["location"]["lat"], body["location"]["lon"]))
    elif kind == "contact":
        lines.append(f"{body['contact']['name']} {body['contact']['phone_number']}")
    elif kind == "rich_media":
        for button in (body.get("rich_media") or {}).get("Buttons") or []:
            if button.get("ActionType", "reply") == "none" and button.get("Text"):
                lines.append(_TAG.sub(" ", str(button["Text"]).replace("<br>", "\n")).strip())
    for button in buttons_of(body):
        action = button.get("ActionType", "reply")
        if action == "reply":
            lines.append(f"[{button.get('Text') or button.get('ActionBody')}]")
        elif action == "open-url":
            lines.append(f"[{button.get('Text') or ''}: {button['ActionBody']}]")
    return "\n".join(line for line in lines if line)
