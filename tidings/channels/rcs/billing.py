"""Which RBM billable event a message we send counts as, for cost reports.

Google's standard (non-US) model, per the RBM billing FAQ:

- BASIC_MESSAGE: an agent message of text only, at most 160 bytes in UTF-8, no suggestions;
- SINGLE_MESSAGE: any other agent message (longer text, media, rich card, suggestions);
- for a *conversational* agent, messages exchanged within 24 hours of a reply are one
  conversation, billed once: an A2P_CONVERSATION when the user answered one of our messages
  (sent within the 24 hours before the user's message), a P2A_CONVERSATION when the user wrote
  first and we answer within 24 hours. A non-conversational agent is always billed per message.

The session is judged from what the conversation engine knows: `last_inbound_ms` (the user's
last message on RCS) and, when given, `last_outbound_ms` (our last message before it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from tidings.channels.rcs.transcode import is_rich

__all__ = ["BASIC_TEXT_BYTES", "SESSION_MS", "Billing", "classify"]

BASIC_TEXT_BYTES = 160
SESSION_MS = 24 * 60 * 60 * 1000

Category = Literal["BASIC_MESSAGE", "SINGLE_MESSAGE", "A2P_CONVERSATION", "P2A_CONVERSATION"]


@dataclass(frozen=True)
class Billing:
    category: Category  # the billable event this message counts as (or is part of)
    message_type: Literal["BASIC_MESSAGE", "SINGLE_MESSAGE"]  # what it would be on its own
    session_ends_ms: int | None = None  # when the conversation window closes

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"category": self.category, "message_type": self.message_type}
        if self.session_ends_ms is not None:
            out["session_ends_ms"] = self.session_ends_ms
        return out


def message_type(content_message: dict[str, Any]) -> Literal["BASIC_MESSAGE", "SINGLE_MESSAGE"]:
    if is_rich(content_message):
        return "SINGLE_MESSAGE"
    text = str(content_message.get("text", ""))
    return "BASIC_MESSAGE" if len(text.encode("utf-8")) <= BASIC_TEXT_BYTES else "SINGLE_MESSAGE"


def classify(content_message: dict[str, Any], *, now_ms: int, last_inbound_ms: int | None,
             last_outbound_ms: int | None = None, conversational: bool = True) -> Billing:
    kind = message_type(content_message)
    if not conversational or last_inbound_ms is None or not 0 <= now_ms - last_inbound_ms < SESSION_MS:
        return Billing(kind, kind)
    answered_us = (last_outbound_ms is not None
                   and 0 <= last_inbound_ms - last_outbound_ms < SESSION_MS)
    return Billing("A2P_CONVERSATION" if answered_us else "P2A_CONVERSATION", kind,
                   session_ends_ms=last_inbound_ms + SESSION_MS)
