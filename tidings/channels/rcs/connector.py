"""The RCS connector: Google RCS Business Messaging (RBM) as a Conversation API channel.

- `capability`: phones.capabilities — reachable when the user is RCS-enabled (404: not);
- `send`: the AppMessage transcoded to a contentMessage (`transcode`), sent with
  phones.agentMessages.create under a messageId derived from the Conversation message id (so a
  retry is recognised by RBM as the same message), its billable event recorded (`billing`);
- `inbound_routes`: the agent's webhook (`inbound`), and a READ agent event back to the user for
  every message they send (option `read_receipts`, default on);
- `typing` (and `send_event` for an app's composing_event): an IS_TYPING agent event (RBM has
  no "stopped typing"); `revoke`: take back an undelivered message (on `ttl`);
- `configure_app`: registers the webhook URL and client token with the sandbox twin's console
  (Google's real console has no API for it: there the operator pastes the URL; see
  docs/channels/rcs.md).

Options (`ConnectorContext.options`): `read_receipts` (bool), `conversational` (bool, the
agent's billing category; default true), `console` (bool; default: true unless `base_url` is
Google's, any *.googleapis.com host).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
import orjson
from starlette.routing import BaseRoute

from tidings.channels.background import BackgroundTasks
from tidings.channels.contract import (
    Capability,
    ChannelEventSink,
    ChannelFeature,
    ConnectorContext,
    InboundEvent,
    InboundRef,
    OutboundMessage,
    SendResult,
)
from tidings.channels.rcs import billing, inbound
from tidings.channels.rcs.client import RbmClient, RbmCredentials
from tidings.channels.rcs.transcode import UnsupportedContent, to_content_message
from tidings.core.errors import ChannelAuthError, DeliveryError, PermanentDeliveryError

__all__ = ["RcsConnector", "rbm_message_id"]

log = logging.getLogger(__name__)

_ID_NAMESPACE = uuid.UUID("5d1f8a52-3c1e-4a52-9a7e-2f0c9d6b1e01")
_TRAFFIC_TYPES = {
    "security": "AUTHENTICATION",
    "information": "TRANSACTION",
    "satisfaction": "TRANSACTION",
    "engagement": "PROMOTION",
}
INVALID_CONTENT = 400
GOOGLE_HOST_SUFFIX = "googleapis.com"  # rcsbusinessmessaging.googleapis.com and its regional hosts


def rbm_message_id(message: OutboundMessage) -> str:
    """The RBM messageId (a UUID, as RBM requires) for one Conversation message on RCS: stable
    across retries, distinct per message and recipient."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{message.message_id}/{message.identity}"))


class RcsConnector:
    id = "rcs"
    channel = "RCS"
    features = (ChannelFeature.TEXT | ChannelFeature.MEDIA | ChannelFeature.CARD | ChannelFeature.CAROUSEL
                | ChannelFeature.CHOICE | ChannelFeature.LOCATION | ChannelFeature.READ_RECEIPTS
                | ChannelFeature.TYPING)

    app_events = frozenset({"composing_event"})

    def __init__(self, ctx: ConnectorContext) -> None:
        self.ctx = ctx
        self.client = RbmClient(ctx.base_url, ctx.http)
        self.read_receipts = bool(ctx.options.get("read_receipts", True))
        self.conversational = bool(ctx.options.get("conversational", True))
        google = httpx.URL(ctx.base_url).host.endswith(GOOGLE_HOST_SUFFIX)
        self.console = bool(ctx.options.get("console", not google))
        self._background = BackgroundTasks("rcs")

    # -- sending ---------------------------------------------------------------------------------

    async def capability(self, message: OutboundMessage) -> Capability:
        creds = RbmCredentials.from_entry(message.credentials)
        features = await self.client.capabilities(creds, message.identity)
        if features is None:
            return Capability(False, "the user is not RCS-enabled or not reachable by RBM")
        return Capability(True)

    async def send(self, message: OutboundMessage) -> SendResult:
        creds = RbmCredentials.from_entry(message.credentials)
        try:
            content_message = to_content_message(message.content, message.message_id)
        except UnsupportedContent as exc:
            raise PermanentDeliveryError(f"RCS: {exc}", code=INVALID_CONTENT) from exc
        agent_message: dict[str, Any] = {"contentMessage": content_message,
                                         "messageTrafficType": _TRAFFIC_TYPES.get(message.purpose, "TRANSACTION")}
        message_id = rbm_message_id(message)
        now = self.ctx.clock()
        last_outbound = message.metadata.get("last_outbound_ms")
        bill = billing.classify(content_message, now_ms=now, last_inbound_ms=message.last_inbound_ms,
                                last_outbound_ms=last_outbound if isinstance(last_outbound, int) else None,
                                conversational=self.conversational)
        await self.client.send(creds, message.identity, message_id, agent_message)
        return SendResult(message_id, bill.category, {"billing": bill.as_json(), "agent_id": creds.agent_id,
                                                      "traffic_type": agent_message["messageTrafficType"]})

    async def revoke(self, message: OutboundMessage) -> bool:
        """Take back a message not delivered yet (before falling back to another channel when
        its `ttl` ran out): True when revoked, False when it had been delivered already."""
        creds = RbmCredentials.from_entry(message.credentials)
        return await self.client.revoke(creds, message.identity, rbm_message_id(message))

    async def typing(self, credentials: dict[str, Any], identity: str) -> None:
        """Show the user that the agent is typing (phones.agentEvents IS_TYPING)."""
        await self.client.event(RbmCredentials.from_entry(credentials), identity, "IS_TYPING")

    async def send_event(self, credentials: dict[str, Any], identity: str, event: dict[str, Any], *,
                         last_inbound: InboundRef | None = None) -> None:
        """An app event (`app_events`: composing_event) as an agent event."""
        await self.typing(credentials, identity)

    # -- receiving -------------------------------------------------------------------------------

    def inbound_routes(self, sink: ChannelEventSink) -> list[BaseRoute]:
        return inbound.routes(sink, self.ctx.clock, self._after_inbound)

    async def _after_inbound(self, creds: RbmCredentials, events: Sequence[InboundEvent]) -> None:
        if not self.read_receipts:
            return
        for event in events:
            self._background.spawn(self._mark_read(creds, event))

    async def _mark_read(self, creds: RbmCredentials, event: InboundEvent) -> None:
        try:
            await self.client.event(creds, event.identity, "READ", event.channel_message_id)
        except DeliveryError as exc:
            log.warning("RCS read receipt for %s not sent: %s", event.channel_message_id, exc)

    def webhook_url(self, app_id: str) -> str:
        return f"{self.ctx.public_url.rstrip('/')}/channels/{self.id}/apps/{app_id}/webhook"

    async def configure_app(self, app_id: str, credentials: dict[str, Any]) -> None:
        if not self.console:
            return
        creds = RbmCredentials.from_entry(credentials)
        body: dict[str, Any] = {"token": creds.token}
        if creds.client_token is not None:
            body["webhook"] = {"url": self.webhook_url(app_id), "clientToken": creds.client_token}
        url = f"{self.client.base_url}/console/agents/{creds.agent_id}"
        try:
            response = await self.ctx.http.put(url, content=orjson.dumps(body),
                                               headers={"Content-Type": "application/json"})
        except httpx.HTTPError as exc:
            raise ChannelAuthError(f"RBM console unreachable at {url}: {exc!r}") from exc
        if response.status_code >= 400:
            raise ChannelAuthError(f"RBM console refused agent {creds.agent_id}: "
                                   f"{response.status_code} {response.text[:200]}")

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        await self._background.aclose()
