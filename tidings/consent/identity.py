"""Identities and channels as the ledger keys them.

Phone numbers are kept in E.164 (so "+44 7700 900123" and "447700900123" are one contact), email
addresses in lower case, other channel identities (a Messenger PSID, a Telegram chat id) as given.
Channels are the Conversation API's upper-case names ("SMS", "WHATSAPP", …) or "*" for all.
"""

from __future__ import annotations

import re

import phonenumbers

__all__ = ["check_channel", "normalize_identity"]

_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-.]{4,30}$")
_CHANNEL = re.compile(r"^[A-Z][A-Z0-9_]{0,31}$")
MAX_IDENTITY = 320


def normalize_identity(raw: object) -> str:
    """The ledger key of a contact identity; ValueError if it is empty or malformed."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("identity must be a non-empty string")
    text = raw.strip()
    if len(text) > MAX_IDENTITY:
        raise ValueError(f"identity has at most {MAX_IDENTITY} characters")
    if "@" in text:
        return text.lower()
    if _PHONE.match(text) or text.startswith("+"):
        digits = "+" + re.sub(r"[^0-9]", "", text[2:] if text.startswith("00") else text)
        try:
            number = phonenumbers.parse(digits, None)
        except phonenumbers.NumberParseException as exc:
            raise ValueError(f"not a valid phone number: {raw!r}") from exc
        if not phonenumbers.is_valid_number(number):
            raise ValueError(f"not a valid phone number: {raw!r}")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return text


def check_channel(raw: object, *, allow_all: bool = True) -> str:
    if isinstance(raw, str):
        text = raw.strip().upper()
        if (allow_all and text == "*") or _CHANNEL.match(text):
            return text
    raise ValueError('channel must be a channel name such as "SMS" or "WHATSAPP"' + (' or "*"' if allow_all else ""))
