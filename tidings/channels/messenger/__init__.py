"""Facebook Messenger through the Messenger Platform Send API (Meta Graph API).

- `transcode`: Conversation AppMessages → Send API `message` objects (quick replies, button and
  generic templates, attachments), degrading what Messenger cannot render;
- `policy`: the 24-hour standard messaging window and message tags;
- `connector`: sending, error mapping, webhook registration;
- `inbound`: the webhook (verification handshake, X-Hub-Signature-256, messages, quick replies,
  postbacks, delivery and read watermarks);
- `sent`: the per-person record of sent message ids that watermarks and taps are matched against;
- `graph`: error codes, error bodies, message tags and signatures shared with the sandbox twin.
"""

from __future__ import annotations

from tidings.channels.contract import ConnectorContext
from tidings.channels.messenger.connector import MessengerConnector

__all__ = ["MessengerConnector", "create"]


def create(ctx: ConnectorContext) -> MessengerConnector:
    return MessengerConnector(ctx)
