"""When Messenger lets a Page write: the 24-hour standard messaging window and message tags.

- Inside the window (the person wrote to the Page less than 24 hours ago) any message may go,
  as `messaging_type` `RESPONSE` (or `UPDATE` when the request says so).
- Outside it only a message with a message tag may go (`messaging_type` `MESSAGE_TAG`), the tag
  given as the Sinch channel property `MESSENGER_MESSAGE_TAG`; `HUMAN_AGENT` and
  `CUSTOMER_FEEDBACK` only within 7 days of the person's last message; never promotional content
  (purpose `engagement`).

Channel properties (`MESSENGER_MESSAGING_TYPE`, `MESSENGER_MESSAGE_TAG`, as in Sinch's
`channel_properties`) are read from `OutboundMessage.metadata["channel_properties"]`.
"""

from __future__ import annotations

from typing import Any

from tidings.channels.contract import OutboundMessage
from tidings.channels.messenger.graph import (
    MESSAGE_TAGS,
    MESSAGING_TYPES,
    STANDARD_WINDOW_MS,
)

__all__ = ["OUTSIDE_WINDOW", "PROMOTIONAL_TAG", "messaging", "properties", "refusal", "window_open"]

OUTSIDE_WINDOW = "outside 24h window, message tag required"
PROMOTIONAL_TAG = "message tags may not carry promotional content"
TAG_PROPERTY = "MESSENGER_MESSAGE_TAG"
TYPE_PROPERTY = "MESSENGER_MESSAGING_TYPE"


def properties(message: OutboundMessage) -> dict[str, str]:
    raw: Any = message.metadata.get("channel_properties") or {}
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def window_open(last_inbound_ms: int | None, now_ms: int, length_ms: int = STANDARD_WINDOW_MS) -> bool:
    return last_inbound_ms is not None and now_ms - last_inbound_ms < length_ms


def messaging(message: OutboundMessage) -> tuple[str, str | None]:
    """(`messaging_type`, `tag`) for the Send API request."""
    props = properties(message)
    tag = props.get(TAG_PROPERTY) or None
    if tag is not None:
        return "MESSAGE_TAG", tag.upper()
    kind = props.get(TYPE_PROPERTY, "").upper()
    return (kind if kind in ("RESPONSE", "UPDATE") else "RESPONSE"), None


def refusal(message: OutboundMessage, now_ms: int) -> str | None:
    """Why this message may not go on Messenger now, or None when it may."""
    props = properties(message)
    kind = props.get(TYPE_PROPERTY, "").upper()
    if kind and kind not in MESSAGING_TYPES:
        return f"unknown Messenger messaging type {kind!r}"
    messaging_type, tag = messaging(message)
    if messaging_type == "MESSAGE_TAG" and tag not in MESSAGE_TAGS:
        return f"unknown Messenger message tag {tag!r}"
    if window_open(message.last_inbound_ms, now_ms):
        return None
    if tag is None:
        return OUTSIDE_WINDOW
    if message.purpose == "engagement":
        return PROMOTIONAL_TAG
    limit = MESSAGE_TAGS[tag]
    if limit is not None and not window_open(message.last_inbound_ms, now_ms, limit):
        return f"the {tag} tag may only be used within {limit // 86_400_000} days of the person's last message"
    return None
