"""When WhatsApp lets a business write: the 24-hour customer-service window and opt-in.

- Inside the window (the contact wrote to us on WhatsApp less than 24 hours ago) any message may
  go: it answers the customer.
- Outside it only an approved template may go, and only to a contact who opted in to WhatsApp
  messages from us. The engine says so in `OutboundMessage.metadata[OPT_IN_KEY]`: `True` for every
  purpose, or a list of the purposes opted in to (`["information", "security"]`). Without it a
  business-initiated message is refused, whatever its purpose.
"""

from __future__ import annotations

from tidings.channels.contract import OutboundMessage
from tidings.channels.whatsapp.graph import CUSTOMER_SERVICE_WINDOW_MS
from tidings.channels.whatsapp.transcode import is_template

__all__ = ["NO_OPT_IN", "OPT_IN_KEY", "OUTSIDE_WINDOW", "opted_in", "refusal", "window_open"]

OPT_IN_KEY = "whatsapp_opt_in"
OUTSIDE_WINDOW = "outside 24h window, template required"
NO_OPT_IN = "no WhatsApp opt-in for a business-initiated message"


def window_open(last_inbound_ms: int | None, now_ms: int) -> bool:
    return last_inbound_ms is not None and now_ms - last_inbound_ms < CUSTOMER_SERVICE_WINDOW_MS


def opted_in(message: OutboundMessage) -> bool:
    consent = message.metadata.get(OPT_IN_KEY)
    if consent is True:
        return True
    return isinstance(consent, (list, tuple, set, frozenset)) and message.purpose in consent


def refusal(message: OutboundMessage, now_ms: int) -> str | None:
    """Why this message may not go on WhatsApp now, or None when it may."""
    if window_open(message.last_inbound_ms, now_ms):
        return None
    if not is_template(message.content):
        return OUTSIDE_WINDOW
    if not opted_in(message):
        return NO_OPT_IN
    return None
