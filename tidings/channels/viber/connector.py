"""`ViberConnector`: sends through the Viber REST Bot API (`POST {base}/pa/send_message`).

Credentials are the app's VIBER entry: `static_token.token` (the bot's auth token), which also
signs Viber's callbacks. Options (`ConnectorContext.options`): `sender_name` (shown as the sender,
at most 28 characters; default "Tidings"), `sender_avatar` (an image URL), `event_types` (what
set_webhook subscribes to; default delivered, seen, failed, subscribed, unsubscribed,
conversation_started — messages always come).

The recipient identity is the Viber user id; the channel message id is Viber's `message_token`.
A message that needs several calls (a location with a title, more than 6 cards) records them all
in `SendResult.details["channel_message_ids"]`; the last is its id.

Viber answers HTTP 200 whatever happens; the body's `status` decides (`restapi.classify`):
2 invalidAuthToken and account problems → ChannelAuthError; 12 tooManyRequests, 10
webhookNotSet, unknown statuses, 5xx and timeouts → TransientDeliveryError; the rest (5
receiverNotRegistered, 6 notSubscribed, 11 receiverNoSuitableDevice, 3 badData…) →
PermanentDeliveryError(status).
"""

from __future__ import annotations

from typing import Any

import httpx
from starlette.routing import BaseRoute

from tidings.channels.contract import (
    Capability,
    ChannelEventSink,
    ChannelFeature,
    ConnectorContext,
    OutboundMessage,
    SendResult,
)
from tidings.channels.viber.inbound import inbound_routes
from tidings.channels.viber.restapi import (
    AUTH_HEADER,
    EVENT_TYPES,
    MAX_SENDER_NAME,
    Status,
    classify,
)
from tidings.channels.viber.transcode import TranscodeError, transcode
from tidings.core.errors import (
    ChannelAuthError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

__all__ = ["ViberApiError", "ViberConnector", "token_of"]

FEATURES = (ChannelFeature.TEXT | ChannelFeature.MEDIA | ChannelFeature.CARD | ChannelFeature.CAROUSEL
            | ChannelFeature.CHOICE | ChannelFeature.LIST | ChannelFeature.LOCATION | ChannelFeature.READ_RECEIPTS)
_RETRY_AFTER: dict[int, float] = {Status.TOO_MANY_REQUESTS: 5.0, Status.WEBHOOK_NOT_SET: 2.0}


class ViberApiError(Exception):
    """A REST call answered with a non-zero status."""

    def __init__(self, status: int, status_message: str) -> None:
        super().__init__(f"Viber {status} {status_message}")
        self.status = status
        self.status_message = status_message

    def mapped(self) -> Exception:
        outcome = classify(self.status)
        if outcome == "auth":
            return ChannelAuthError(str(self))
        if outcome == "transient":
            return TransientDeliveryError(str(self), retry_after=_RETRY_AFTER.get(self.status, 1.0))
        return PermanentDeliveryError(str(self), self.status)


def token_of(credentials: dict[str, Any]) -> str:
    token = (credentials.get("static_token") or {}).get("token")
    if not token:
        raise ChannelAuthError("VIBER credentials need static_token.token")
    return str(token)


class ViberConnector:
    id = "viber"
    channel = "VIBER"
    features = FEATURES

    def __init__(self, ctx: ConnectorContext) -> None:
        self.ctx = ctx

    @property
    def base_url(self) -> str:
        return self.ctx.base_url.rstrip("/")

    @property
    def sender(self) -> dict[str, str]:
        sender = {"name": str(self.ctx.options.get("sender_name") or "Tidings")[:MAX_SENDER_NAME]}
        if self.ctx.options.get("sender_avatar"):
            sender["avatar"] = str(self.ctx.options["sender_avatar"])
        return sender

    # -- the contract ------------------------------------------------------------------------------

    async def capability(self, message: OutboundMessage) -> Capability:
        """Viber's only user lookup (get_user_details) allows two calls per user in 12 hours, so
        there is no check before sending: a user who is not subscribed fails the send (status 6)."""
        token_of(message.credentials)
        return Capability(True)

    async def send(self, message: OutboundMessage) -> SendResult:
        token = token_of(message.credentials)
        try:
            payloads = transcode(message.content, message.message_id)
        except TranscodeError as exc:
            raise PermanentDeliveryError(str(exc), Status.BAD_DATA) from exc
        ids = []
        for payload in payloads:
            body = {"receiver": message.identity, "sender": self.sender, **payload}
            body.setdefault("min_api_version", 1)
            try:
                result = await self.call(token, "send_message", body)
            except ViberApiError as exc:
                raise exc.mapped() from exc
            if result.get("message_token") is None:
                raise TransientDeliveryError(f"Viber answered without a message_token: {result}")
            ids.append(str(result["message_token"]))
        return SendResult(ids[-1], details={"channel_message_ids": ids})

    async def configure_app(self, app_id: str, credentials: dict[str, Any]) -> None:
        """`set_webhook` with the app's inbound URL (Viber checks it with a signed `webhook`
        callback before it answers)."""
        token = token_of(credentials)
        body = {"url": self.webhook_url(app_id), "send_name": True, "send_photo": False,
                "event_types": list(self.ctx.options.get("event_types", EVENT_TYPES))}
        try:
            await self.call(token, "set_webhook", body)
        except ViberApiError as exc:
            if classify(exc.status) == "auth":
                raise ChannelAuthError(str(exc)) from exc
            raise TransientDeliveryError(f"set_webhook failed: {exc}") from exc

    def inbound_routes(self, sink: ChannelEventSink) -> list[BaseRoute]:
        return inbound_routes(self, sink)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    # -- helpers -----------------------------------------------------------------------------------

    def webhook_url(self, app_id: str) -> str:
        return f"{self.ctx.public_url.rstrip('/')}/channels/{self.id}/apps/{app_id}/webhook"

    async def call(self, token: str, method: str, body: dict[str, Any]) -> dict[str, Any]:
        """One REST call; the answer when `status` is 0, else ViberApiError."""
        try:
            response = await self.ctx.http.post(f"{self.base_url}/pa/{method}", json=body,
                                                headers={AUTH_HEADER: token})
        except httpx.TimeoutException as exc:
            raise TransientDeliveryError(f"Viber {method} timed out: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise TransientDeliveryError(f"Viber {method} unreachable: {exc!r}") from exc
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code >= 500 or not isinstance(answer, dict) or not isinstance(answer.get("status"), int):
            raise TransientDeliveryError(f"Viber {method}: {response.status_code} {response.text[:200]}")
        if answer["status"] != Status.OK:
            raise ViberApiError(answer["status"], str(answer.get("status_message") or ""))
        return answer
