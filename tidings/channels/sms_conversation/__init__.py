"""SMS for the Conversation API: messages rendered as text (`degrade.as_text`) and sent as XMS
batches through issue 2's pipeline; the batches' delivery statuses come back as StatusEvents
(`status.py`, called by the outcome writer in its transaction).

The runtime passes its `Context` as `options["ctx"]`.
"""

from __future__ import annotations

from tidings.channels.contract import ConnectorContext
from tidings.channels.sms_conversation.connector import SmsConversationConnector

__all__ = ["SmsConversationConnector", "create"]


def create(ctx: ConnectorContext) -> SmsConversationConnector:
    return SmsConversationConnector(ctx)
