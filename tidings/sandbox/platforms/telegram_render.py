"""What the Telegram twin checks in a send call and the `Message` it makes of it.

Pure functions over the call's parameters: `validate(method, params)` raises `BotApiFault` with
the Bot API's own error text ("Bad Request: message text is empty", "Bad Request: BUTTON_DATA_INVALID"
…); `message_fields(method, params, new_file_id)` is the method-specific part of the returned
`Message` (text, photo sizes, caption, location, venue, contact, reply_markup); `handset_text`
is what a handset shows for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tidings.channels.telegram.botapi import (
    MAX_CALLBACK_DATA,
    MAX_CAPTION,
    MAX_MEDIA_GROUP,
    MAX_TEXT,
    MIN_MEDIA_GROUP,
)
from tidings.conversations.degrade import map_link

__all__ = ["MEDIA_METHODS", "SEND_METHODS", "BotApiFault", "callback_buttons", "handset_text",
           "message_fields", "validate"]

MEDIA_METHODS = {"sendPhoto": "photo", "sendVideo": "video", "sendAnimation": "animation",
                 "sendAudio": "audio", "sendDocument": "document"}
SEND_METHODS = frozenset({"sendMessage", "sendLocation", "sendVenue", "sendContact", "sendMediaGroup",
                          *MEDIA_METHODS})
_BUTTON_ACTIONS = ("url", "callback_data", "web_app", "login_url", "switch_inline_query",
                   "switch_inline_query_current_chat", "callback_game", "pay", "copy_text")


class BotApiFault(Exception):
    def __init__(self, error_code: int, detail: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.error_code = error_code
        self.detail = detail
        self.retry_after = retry_after


def _bad(detail: str) -> BotApiFault:
    return BotApiFault(400, detail)


def _file_ref(value: Any, files: Callable[[str], bool]) -> None:
    if not isinstance(value, str) or not value:
        raise _bad("there is no photo in the request")
    if value.startswith(("http://", "https://")) or files(value):
        return
    raise _bad("wrong file identifier/HTTP URL specified")


def _markup(markup: Any) -> None:
    if markup is None:
        return
    if not isinstance(markup, dict):
        raise _bad("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        return  # reply keyboards and force_reply: accepted as they are
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad("field \"inline_keyboard\" of the InlineKeyboardMarkup should be an Array of Arrays")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str) or not button["text"]:
                raise _bad("can't parse inline keyboard button: Field \"text\" must be of type String")
            actions = [a for a in _BUTTON_ACTIONS if a in button]
            if len(actions) != 1:
                raise _bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA:
                    raise _bad("BUTTON_DATA_INVALID")
            if "url" in button:
                url = button["url"]
                if not isinstance(url, str) or not url.startswith(("http://", "https://", "tg://")):
                    raise _bad("inline keyboard button URL '" + str(url) + "' is invalid: Unsupported URL protocol")


def _coordinates(params: dict[str, Any]) -> None:
    lat, lon = params.get("latitude"), params.get("longitude")
    if not isinstance(lat, int | float) or not isinstance(lon, int | float) or isinstance(lat, bool):
        raise _bad("wrong latitude or longitude specified")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise _bad("wrong location specified")


def _caption(params: dict[str, Any]) -> None:
    caption = params.get("caption")
    if caption is not None and (not isinstance(caption, str) or len(caption) > MAX_CAPTION):
        raise _bad("message caption is too long")


def validate(method: str, params: dict[str, Any], files: Callable[[str], bool]) -> None:
    """Raise `BotApiFault` the way the Bot API refuses a bad send call."""
    if method == "sendMessage":
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad("message text is empty")
        if len(text) > MAX_TEXT:
            raise _bad("message is too long")
    elif method in MEDIA_METHODS:
        field = MEDIA_METHODS[method]
        if field not in params:
            raise _bad(f"there is no {field} in the request")
        _file_ref(params[field], files)
        _caption(params)
    elif method in ("sendLocation", "sendVenue"):
        _coordinates(params)
        if method == "sendVenue" and not (isinstance(params.get("title"), str) and params["title"]
                                          and isinstance(params.get("address"), str) and params["address"]):
            raise _bad("venue title and address must be non-empty")
    elif method == "sendContact":
        if not params.get("phone_number") or not params.get("first_name"):
            raise _bad("phone number and first name must be non-empty")
    elif method == "sendMediaGroup":
        media = params.get("media")
        if not isinstance(media, list) or not MIN_MEDIA_GROUP <= len(media) <= MAX_MEDIA_GROUP:
            raise _bad("wrong number of media items specified: must include 2-10 items")
        for item in media:
            if not isinstance(item, dict) or item.get("type") not in ("photo", "video", "audio", "document"):
                raise _bad("can't parse InputMedia: media type must be one of photo, video, audio, document")
            _file_ref(item.get("media"), files)
            _caption(item)
    _markup(params.get("reply_markup"))


def _photo_sizes(file_id: str) -> list[dict[str, Any]]:
    unique = file_id[-12:]
    return [{"file_id": f"{file_id}-s", "file_unique_id": f"{unique}s", "width": 90, "height": 68, "file_size": 1200},
            {"file_id": file_id, "file_unique_id": unique, "width": 1280, "height": 960, "file_size": 98_000}]


def message_fields(method: str, params: dict[str, Any], new_file_id: Callable[[str], str]) -> dict[str, Any]:
    """The method-specific fields of the `Message` a send returns (not sendMediaGroup)."""
    out: dict[str, Any] = {}
    if method == "sendMessage":
        out["text"] = params["text"]
    elif method in MEDIA_METHODS:
        field = MEDIA_METHODS[method]
        file_id = new_file_id(str(params[field]))
        if field == "photo":
            out["photo"] = _photo_sizes(file_id)
        else:
            out[field] = {"file_id": file_id, "file_unique_id": file_id[-12:],
                          "file_name": str(params[field]).rsplit("/", 1)[-1].split("?", 1)[0] or field}
        if params.get("caption"):
            out["caption"] = params["caption"]
    elif method == "sendLocation":
        out["location"] = {"latitude": params["latitude"], "longitude": params["longitude"]}
    elif method == "sendVenue":
        location = {"latitude": params["latitude"], "longitude": params["longitude"]}
        out["location"] = location
        out["venue"] = {"location": location, "title": params["title"], "address": params["address"]}
    elif method == "sendContact":
        out["contact"] = {k: params[k] for k in ("phone_number", "first_name", "last_name") if params.get(k)}
    if isinstance(params.get("reply_markup"), dict) and "inline_keyboard" in params["reply_markup"]:
        out["reply_markup"] = params["reply_markup"]
    return out


def callback_buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for row in (message.get("reply_markup") or {}).get("inline_keyboard") or [] for b in row
            if isinstance(b, dict)]


def handset_text(method: str, params: dict[str, Any]) -> str:
    """What the handset shows: the text or caption (or media URL, map link, contact), then the
    inline buttons as `[label]` / `[label: url]` lines."""
    if method == "sendMessage":
        lines = [str(params["text"])]
    elif method in MEDIA_METHODS:
        lines = [str(params.get("caption") or params[MEDIA_METHODS[method]])]
    elif method in ("sendLocation", "sendVenue"):
        lines = [str(x) for x in (params.get("title"), params.get("address")) if x and method == "sendVenue"]
        lines.append(map_link(params["latitude"], params["longitude"]))
        lines = list(dict.fromkeys(lines))
    elif method == "sendContact":
        name = " ".join(str(params[k]) for k in ("first_name", "last_name") if params.get(k))
        lines = [f"{name} {params['phone_number']}"]
    elif method == "sendMediaGroup":
        lines = [str(item.get("caption") or item.get("media")) for item in params["media"]]
    else:
        lines = []
    for button in callback_buttons({"reply_markup": params.get("reply_markup") or {}}):
        lines.append(f"[{button['text']}: {button['url']}]" if "url" in button else f"[{button['text']}]")
    return "\n".join(lines)
