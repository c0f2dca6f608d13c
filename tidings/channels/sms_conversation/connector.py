"""`SmsConversationConnector`: one conversation message → one XMS batch for one recipient.

The batch's `client_reference` is `conv:<message id>` (how its statuses find their way back) and
its idempotency key is the message id plus the engine's attempt, so a send repeated after a crash
does not send twice. A message with a ttl gives its batch the attempt's deadline as `expire_at`:
not sent from the queue after it, and the carrier (told by the submit_sm's validity_period) stops
trying then — the engine moves on to the next channel at that moment, and the SMS must not
arrive as well.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.routing import BaseRoute

from tidings.actions.batch_checks import MAX_EXPIRY_MS
from tidings.channels.contract import (
    Capability,
    ChannelEventSink,
    ChannelFeature,
    ConnectorContext,
    OutboundMessage,
    SendResult,
)
from tidings.conversations.degrade import as_text
from tidings.core.errors import PermanentDeliveryError, RequestError

__all__ = ["CLIENT_REFERENCE_PREFIX", "DEFAULT_SENDER", "SmsConversationConnector"]

CLIENT_REFERENCE_PREFIX = "conv:"
DEFAULT_SENDER = "Tidings"


def _expire_at(deadline_ms: object, now_ms: int) -> str | None:
    """The batch's expire_at for an attempt's deadline: None without one, or when it is further
    away than a batch may expire (3 days: the batch's default then applies); at least a second
    ahead, so a deadline that is just passing still sends rather than refuses."""
    if not isinstance(deadline_ms, int) or deadline_ms - now_ms > MAX_EXPIRY_MS:
        return None
    at = datetime.fromtimestamp(max(deadline_ms, now_ms + 1000) / 1000, UTC)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sender_of(credentials: dict[str, Any], default: str) -> str:
    bearer = credentials.get("static_bearer") or {}
    return str(bearer.get("sender") or credentials.get("sender") or default)


class SmsConversationConnector:
    id = "sms_conversation"
    channel = "SMS"
    features = ChannelFeature.TEXT

    def __init__(self, ctx: ConnectorContext) -> None:
        self.ctx = ctx
        self.runtime = ctx.options.get("ctx")  # tidings.runtime.context.Context
        self.default_sender = str(ctx.options.get("sender", DEFAULT_SENDER))

    async def capability(self, message: OutboundMessage) -> Capability:
        if self.runtime is None:
            return Capability(False, "the SMS pipeline is not available in this process")
        return Capability(True)

    async def send(self, message: OutboundMessage) -> SendResult:
        from tidings.actions.batches import do_send

        assert self.runtime is not None  # without the pipeline capability() answers unreachable
        body = as_text(message.content)
        if not body.strip():
            raise PermanentDeliveryError("the message has no text form for SMS", 400)
        payload = {
            "to": [message.identity],
            "from": sender_of(message.credentials, self.default_sender),
            "body": body,
            "delivery_report": "none",
            "client_reference": f"{CLIENT_REFERENCE_PREFIX}{message.message_id}",
        }
        expire_at = _expire_at(message.metadata.get("deadline_ms"), self.runtime.clock())
        if expire_at is not None:
            payload["expire_at"] = expire_at
        key = f"conv:{message.message_id}:{message.metadata.get('attempt', '')}"
        try:
            result = await do_send(self.runtime, message.project_id, None, payload, key)
        except RequestError as exc:
            raise PermanentDeliveryError(f"SMS refused: {exc.text}", exc.http_status) from exc
        return SendResult(result.batch.id, billing_category="SMS",
                          details={"parts_body_length": len(body)})

    async def configure_app(self, app_id: str, credentials: dict[str, Any]) -> None:
        return None

    def inbound_routes(self, sink: ChannelEventSink) -> list[BaseRoute]:
        return []  # MO arrives over SMPP, through the outcome writer

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
