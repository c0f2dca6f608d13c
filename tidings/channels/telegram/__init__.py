"""Telegram through the Telegram Bot API.

- `transcode`: Conversation AppMessages → Bot API calls (inline keyboards, photos with captions,
  albums, venues), degrading what Telegram cannot render;
- `connector`: sending, error mapping, `setWebhook`, DELIVERED on acceptance (no receipts);
- `inbound`: the webhook (X-Telegram-Bot-Api-Secret-Token; messages and button taps);
- `botapi`: error shapes, limits and the webhook secret, shared with the sandbox twin.
"""

from __future__ import annotations

from tidings.channels.contract import ConnectorContext
from tidings.channels.telegram.connector import TelegramConnector

__all__ = ["TelegramConnector", "create"]


def create(ctx: ConnectorContext) -> TelegramConnector:
    return TelegramConnector(ctx)
