"""Viber through the Viber REST Bot API.

- `transcode`: Conversation AppMessages → send_message bodies (keyboards, rich media cards and
  carousels, pictures, locations, contacts), degrading what Viber cannot render;
- `connector`: sending, status mapping, set_webhook;
- `inbound`: the webhook (X-Viber-Content-Signature; delivered, seen, failed, messages, taps);
- `restapi`: status codes and signatures shared with the sandbox twin.
"""

from __future__ import annotations

from tidings.channels.contract import ConnectorContext
from tidings.channels.viber.connector import ViberConnector

__all__ = ["ViberConnector", "create"]


def create(ctx: ConnectorContext) -> ViberConnector:
    return ViberConnector(ctx)
