"""Which channels a message tries, in which order (the plan), when the caller does not say.

    channel_priority_order given     → those channels, in that order
    else                             → the contact's preferred channels (channel_priority),
                                       then the most used messaging app in the recipient's
                                       country (data/top_messaging_app_by_country.csv),
                                       then SMS
    then                             → only channels the recipient has an identity on (a
                                       phone number reaches every phone-based channel)

A plan entry is `{"channel": ..., "identity": ...}`. Countries come from the E.164 number of
the recipient's phone-based identity (via `phonenumbers`).
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Sequence
from importlib import resources

from tidings.core import calling_codes

__all__ = ["APP_TO_CHANNEL", "PHONE_CHANNELS", "country_of", "plan", "top_app_channel"]

# Apps in the data file that are Conversation API channels.
APP_TO_CHANNEL = {
    "whatsapp": "WHATSAPP",
    "messenger": "MESSENGER",
    "telegram": "TELEGRAM",
    "viber": "VIBER",
    "line": "LINE",
    "kakaotalk": "KAKAOTALK",
    "wechat": "WECHAT",
    "instagram": "INSTAGRAM",
}

# Channels whose identity is an E.164 phone number.
PHONE_CHANNELS = ("SMS", "WHATSAPP", "RCS", "VIBERBM", "MMS", "KAKAOTALK")


@functools.cache
def _top_apps() -> dict[str, str]:
    text = resources.files("tidings.conversations").joinpath(
        "data/top_messaging_app_by_country.csv"
    ).read_text("utf-8")
    out = {}
    for row in csv.DictReader(text.splitlines()):
        channel = APP_TO_CHANNEL.get(row["top_messaging_app"].strip().lower())
        if channel:
            out[row["country_iso2"].strip().upper()] = channel
    return out


def top_app_channel(country_iso2: str | None) -> str | None:
    """The Conversation API channel of the country's most used messaging app, if it is one."""
    if not country_iso2:
        return None
    return _top_apps().get(country_iso2.upper())


def country_of(number: str) -> str | None:
    """The country of a phone identity, E.164 with or without its '+'."""
    return calling_codes.country_of(number if number.startswith("+") else f"+{number}")


def plan(
    identities: Sequence[tuple[str, str]],
    *,
    priority_order: Sequence[str] | None = None,
    preferred: Sequence[str] | None = None,
) -> list[dict[str, str]]:
    """The channels to try, in order, each with the recipient's identity on it.

    `identities` are (channel, identity) pairs in the order the contact lists them.
    """
    by_channel: dict[str, str] = {}
    for channel, known in identities:
        by_channel.setdefault(channel, known)
    if priority_order:
        order = list(priority_order)
    else:
        order = list(preferred or [])
        phone = next((by_channel[c] for c in PHONE_CHANNELS if c in by_channel), None)
        top = top_app_channel(country_of(phone)) if phone else None
        if top:
            order.append(top)
        order.append("SMS")
        # Then any other channel the contact is known on, in the contact's order.
        order.extend(channel for channel, _ in identities)
    phone_number = next((by_channel[c] for c in PHONE_CHANNELS if c in by_channel), None)
    seen: set[str] = set()
    out = []
    for channel in order:
        identity = by_channel.get(channel)
        if identity is None and channel in PHONE_CHANNELS:
            identity = phone_number  # a phone number reaches every phone-based channel
        if channel in seen or identity is None:
            continue
        seen.add(channel)
        out.append({"channel": channel, "identity": identity})
    return out
