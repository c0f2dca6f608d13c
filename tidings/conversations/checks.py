"""Validation of Conversation API request bodies: pure functions that raise `RequestError`.

Every check names the offending field; the API renders it as
`{"error": {"code": 400, "message": "...", "status": "INVALID_ARGUMENT"}}`.
"""

from __future__ import annotations

import re
from typing import Any

import phonenumbers

from tidings.conversations.degrade import MESSAGE_KINDS, kind_of
from tidings.core.errors import RequestError

__all__ = [
    "CHANNELS",
    "MAX_MEDIA_URL",
    "check_channel",
    "check_channel_credentials",
    "check_identity",
    "check_message",
    "check_ttl",
    "invalid",
]

INVALID_ARGUMENT = "INVALID_ARGUMENT"

CHANNELS = frozenset({
    "WHATSAPP", "RCS", "SMS", "MESSENGER", "VIBER", "VIBERBM", "MMS", "INSTAGRAM", "TELEGRAM",
    "KAKAOTALK", "KAKAOTALKCHAT", "LINE", "WECHAT", "APPLEBC", "EMAIL",
})
PHONE_IDENTITY_CHANNELS = frozenset({"SMS", "WHATSAPP", "RCS", "MMS", "VIBERBM"})

MAX_TEXT = 4096
MAX_MEDIA_URL = 2048
MAX_CHOICES = 10
MAX_CARDS = 10
MAX_METADATA = 1024
MAX_CORRELATION_ID = 128
MAX_TTL_SECONDS = 30 * 24 * 3600
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TTL = re.compile(r"^(\d+)(?:\.\d+)?s?$")


def invalid(field: str, text: str) -> RequestError:
    return RequestError(INVALID_ARGUMENT, f"{field}: {text}", 400, {field: text})


def _obj(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(field, "must be an object")
    return value


def _str(value: Any, field: str, *, required: bool = True, max_len: int = MAX_TEXT) -> str | None:
    if value is None:
        if required:
            raise invalid(field, "is required")
        return None
    if not isinstance(value, str):
        raise invalid(field, "must be a string")
    if required and not value.strip():
        raise invalid(field, "must not be empty")
    if len(value) > max_len:
        raise invalid(field, f"must be at most {max_len} characters")
    return value


def check_channel(value: Any, field: str) -> str:
    if not isinstance(value, str) or value not in CHANNELS:
        raise invalid(field, f"unknown channel {value!r}")
    return value


def check_identity(channel: str, identity: Any, field: str) -> str:
    _str(identity, field, max_len=320)
    assert isinstance(identity, str)
    if channel in PHONE_IDENTITY_CHANNELS:
        number = identity if identity.startswith("+") else f"+{identity}"
        try:
            parsed = phonenumbers.parse(number)
        except phonenumbers.NumberParseException as exc:
            raise invalid(field, f"{identity!r} is not an E.164 phone number") from exc
        if not phonenumbers.is_possible_number(parsed):
            raise invalid(field, f"{identity!r} is not an E.164 phone number")
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if channel == "EMAIL" and not _EMAIL.match(identity):
        raise invalid(field, f"{identity!r} is not an email address")
    return identity


def check_url(value: Any, field: str) -> str:
    url = _str(value, field, max_len=10**6)
    assert url is not None
    if len(url) > MAX_MEDIA_URL:
        raise invalid(field, f"URL longer than {MAX_MEDIA_URL} characters")
    if not url.startswith(("https://", "http://")):
        raise invalid(field, "must be an http(s) URL")
    return url


def check_ttl(value: Any) -> int | None:
    """`ttl` ("30s", "30", or a number of seconds) in milliseconds."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise invalid("ttl", "must be a duration like \"30s\"")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and _TTL.match(value.strip()):
        seconds = float(value.strip().rstrip("s"))
    else:
        raise invalid("ttl", "must be a duration like \"30s\"")
    if seconds <= 0 or seconds > MAX_TTL_SECONDS:
        raise invalid("ttl", f"must be between 1 and {MAX_TTL_SECONDS} seconds")
    return int(seconds * 1000)


def _coordinates(value: Any, field: str) -> None:
    coords = _obj(value, field)
    for key, bound in (("latitude", 90), ("longitude", 180)):
        v = coords.get(key)
        if not isinstance(v, int | float) or isinstance(v, bool) or not -bound <= v <= bound:
            raise invalid(f"{field}.{key}", f"must be a number between -{bound} and {bound}")


def _choice(value: Any, field: str) -> None:
    choice = _obj(value, field)
    kinds = [k for k in ("text_message", "url_message", "call_message", "location_message",
                         "calendar_message", "share_location_message") if k in choice]
    if len(kinds) != 1:
        raise invalid(field, "must have exactly one of text_message, url_message, call_message, "
                             "location_message, calendar_message, share_location_message")
    body = _obj(choice[kinds[0]], f"{field}.{kinds[0]}")
    kind = kinds[0]
    if kind == "text_message":
        _str(body.get("text"), f"{field}.text_message.text", max_len=200)
    elif kind == "url_message":
        _str(body.get("title"), f"{field}.url_message.title", max_len=200)
        check_url(body.get("url"), f"{field}.url_message.url")
    elif kind == "call_message":
        _str(body.get("title"), f"{field}.call_message.title", max_len=200)
        check_identity("SMS", body.get("phone_number"), f"{field}.call_message.phone_number")
    elif kind == "location_message":
        _coordinates(body.get("coordinates"), f"{field}.location_message.coordinates")
    elif kind == "calendar_message":
        _str(body.get("title"), f"{field}.calendar_message.title", max_len=200)
        _str(body.get("event_start"), f"{field}.calendar_message.event_start", max_len=64)
        _str(body.get("event_end"), f"{field}.calendar_message.event_end", max_len=64)
        _str(body.get("event_title"), f"{field}.calendar_message.event_title", max_len=200)
    pb = choice.get("postback_data")
    if pb is not None:
        _str(pb, f"{field}.postback_data", required=False, max_len=1024)


def _choices(value: Any, field: str, *, required: bool = False) -> None:
    if value is None and not required:
        return
    if not isinstance(value, list) or (required and not value):
        raise invalid(field, "must be a non-empty list" if required else "must be a list")
    if len(value) > MAX_CHOICES:
        raise invalid(field, f"at most {MAX_CHOICES} choices")
    for i, c in enumerate(value):
        _choice(c, f"{field}[{i}]")


def _card(value: Any, field: str) -> None:
    card = _obj(value, field)
    _str(card.get("title"), f"{field}.title", required=False, max_len=200)
    _str(card.get("description"), f"{field}.description", required=False, max_len=2000)
    if card.get("media_message") is not None:
        check_url(_obj(card["media_message"], f"{field}.media_message").get("url"),
                  f"{field}.media_message.url")
    if not (card.get("title") or card.get("description") or card.get("media_message")):
        raise invalid(field, "needs a title, a description or a media_message")
    _choices(card.get("choices"), f"{field}.choices")


def check_message(value: Any, field: str = "message") -> dict[str, Any]:
    """An AppMessage: exactly one known *_message kind, well formed."""
    msg = _obj(value, field)
    kinds = [k for k in MESSAGE_KINDS if k in msg]
    if len(kinds) != 1:
        raise invalid(field, "must have exactly one of " + ", ".join(MESSAGE_KINDS))
    kind = kinds[0]
    if kind_of(msg) is None:
        raise invalid(f"{field}.{kind}", "must be an object")
    body = msg[kind]
    f = f"{field}.{kind}"
    if kind == "text_message":
        _str(body.get("text"), f"{f}.text")
    elif kind == "media_message":
        check_url(body.get("url"), f"{f}.url")
        if body.get("thumbnail_url") is not None:
            check_url(body["thumbnail_url"], f"{f}.thumbnail_url")
    elif kind == "card_message":
        _card(body, f)
    elif kind == "carousel_message":
        cards = body.get("cards")
        if not isinstance(cards, list) or not cards:
            raise invalid(f"{f}.cards", "must be a non-empty list")
        if len(cards) > MAX_CARDS:
            raise invalid(f"{f}.cards", f"at most {MAX_CARDS} cards")
        for i, card in enumerate(cards):
            _card(card, f"{f}.cards[{i}]")
        _choices(body.get("choices"), f"{f}.choices")
    elif kind == "choice_message":
        _choices(body.get("choices"), f"{f}.choices", required=True)
        if body.get("text_message") is not None:
            _str(_obj(body["text_message"], f"{f}.text_message").get("text"), f"{f}.text_message.text")
    elif kind == "location_message":
        _coordinates(body.get("coordinates"), f"{f}.coordinates")
        _str(body.get("title"), f"{f}.title", required=False, max_len=200)
    elif kind == "list_message":
        _str(body.get("title"), f"{f}.title", max_len=200)
        sections = body.get("sections")
        if not isinstance(sections, list) or not sections:
            raise invalid(f"{f}.sections", "must be a non-empty list")
        for i, section in enumerate(sections):
            items = _obj(section, f"{f}.sections[{i}]").get("items")
            if not isinstance(items, list) or not items:
                raise invalid(f"{f}.sections[{i}].items", "must be a non-empty list")
            for j, item in enumerate(items):
                item = _obj(item, f"{f}.sections[{i}].items[{j}]")
                if "choice" in item:
                    _str(_obj(item["choice"], f"{f}.sections[{i}].items[{j}].choice").get("title"),
                         f"{f}.sections[{i}].items[{j}].choice.title", max_len=200)
                elif "product" not in item:
                    raise invalid(f"{f}.sections[{i}].items[{j}]", "must be a choice or a product")
    elif kind == "template_message":
        if not body.get("channel_template") and not body.get("omni_template"):
            raise invalid(f, "needs channel_template or omni_template")
        channel_templates = body.get("channel_template") or {}
        if not isinstance(channel_templates, dict):
            raise invalid(f"{f}.channel_template", "must be an object keyed by channel")
        if body.get("omni_template") is not None:
            _obj(body["omni_template"], f"{f}.omni_template")
        for channel, tpl in channel_templates.items():
            check_channel(channel, f"{f}.channel_template")
            _str(_obj(tpl, f"{f}.channel_template.{channel}").get("template_id"),
                 f"{f}.channel_template.{channel}.template_id", max_len=512)
    return msg


_CREDENTIAL_KEYS = (
    "static_bearer", "static_token", "telegram_credentials", "mms_credentials",
    "kakaotalk_credentials", "line_credentials", "line_enterprise_credentials",
    "wechat_credentials", "instagram_credentials", "applebc_credentials",
    "kakaotalkchat_credentials", "email_credentials",
)


def check_channel_credentials(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid("channel_credentials", "must be a list")
    seen: set[str] = set()
    for i, entry in enumerate(value):
        entry = _obj(entry, f"channel_credentials[{i}]")
        channel = check_channel(entry.get("channel"), f"channel_credentials[{i}].channel")
        if channel in seen:
            raise invalid(f"channel_credentials[{i}].channel", f"{channel} is given twice")
        seen.add(channel)
        keys = [k for k in _CREDENTIAL_KEYS if k in entry]
        if len(keys) != 1:
            raise invalid(f"channel_credentials[{i}]", "must have exactly one credentials object")
        creds = _obj(entry[keys[0]], f"channel_credentials[{i}].{keys[0]}")
        if keys[0] in ("static_bearer", "static_token", "telegram_credentials"):
            _str(creds.get("token"), f"channel_credentials[{i}].{keys[0]}.token", max_len=4096)
        if keys[0] == "static_bearer":
            _str(creds.get("claimed_identity"),
                 f"channel_credentials[{i}].static_bearer.claimed_identity", max_len=320)
        if entry.get("callback_secret") is not None:
            _str(entry["callback_secret"], f"channel_credentials[{i}].callback_secret", max_len=512)
    return value
