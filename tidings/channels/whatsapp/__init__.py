"""WhatsApp through the WhatsApp Cloud API (Meta Graph API).

- `transcode`: Conversation AppMessages → Cloud API message payloads (interactive buttons, lists,
  CTA URL, templates with components), degrading what WhatsApp cannot render;
- `policy`: the 24-hour customer-service window and opt-in for business-initiated messages;
- `connector`: sending, error mapping, webhook registration;
- `inbound`: the webhook (verification handshake, X-Hub-Signature-256, statuses and messages);
- `graph`: error codes, error bodies and signatures shared with the sandbox twin.
"""

from __future__ import annotations

from tidings.channels.contract import ConnectorContext
from tidings.channels.whatsapp.connector import WhatsAppConnector

__all__ = ["WhatsAppConnector", "create"]


def create(ctx: ConnectorContext) -> WhatsAppConnector:
    return WhatsAppConnector(ctx)
