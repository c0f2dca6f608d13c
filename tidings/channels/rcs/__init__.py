"""RCS through the Google RCS Business Messaging (RBM) API.

- `transcode`: Conversation AppMessage → RBM contentMessage (cards, carousels, suggestions);
- `billing`: the billable event each message counts as (basic, single, A2P/P2A conversation);
- `client`: the RBM REST calls and their error mapping;
- `inbound`: the agent webhook (verification handshake, X-Goog-Signature, events);
- `connector`: `RcsConnector`, the ConversationConnector.

See docs/channels/rcs.md.
"""

from __future__ import annotations

from tidings.channels.contract import ConnectorContext
from tidings.channels.rcs.connector import RcsConnector

__all__ = ["RcsConnector", "create"]


def create(ctx: ConnectorContext) -> RcsConnector:
    return RcsConnector(ctx)
