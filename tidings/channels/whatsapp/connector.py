"""`WhatsAppConnector`: sends through the WhatsApp Cloud API (`POST /{version}/{phone_number_id}/messages`).

Credentials are the app's WHATSAPP entry: `static_bearer.claimed_identity` is the phone number id,
`static_bearer.token` the access token, `callback_secret` the Meta app secret that signs webhooks.
Options (`ConnectorContext.options`): `api_version` (default `graph.API_VERSION`), `verify_token`
(the webhook verify token; default derived per app, see `verify_token`), `register_webhook`
(register the webhook URL with the platform console; default on for a sandbox twin base URL).

App events (`events:send`, `send_event`): a composing_event is the Cloud API's typing indicator,
which rides on marking the contact's newest message read (`{"status": "read", "message_id": …,
"typing_indicator": {"type": "text"}}`): the contact sees the blue ticks and "typing…" until the
next message or for 25 s. It needs that message, inside the 24-hour customer service window
(else `OutsideSendingWindow`); the platform has no call that ends it, so composing_end_event is
not offered.

Graph errors map to the contract by code (`graph.classify`): rate limits and 5xx → transient,
token → `ChannelAuthError`, the rest (131026 undeliverable, 131047 window, 132001 template…) →
permanent.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from tidings.channels.contract import (
    Capability,
    ChannelEventSink,
    ChannelFeature,
    ConnectorContext,
    InboundRef,
    OutboundMessage,
    SendResult,
)
from tidings.channels.graph_common import (
    contract_error,
    derived_verify_token,
    post_graph,
    register_webhook,
)
from tidings.channels.http_client import PlatformResponse
from tidings.channels.whatsapp import policy
from tidings.channels.whatsapp.graph import API_VERSION, CUSTOMER_SERVICE_WINDOW_MS, ErrorCode, classify
from tidings.channels.whatsapp.inbound import inbound_routes
from tidings.channels.whatsapp.transcode import TranscodeError, is_template, transcode
from tidings.core.errors import (
    ChannelAuthError,
    OutsideSendingWindow,
    PermanentDeliveryError,
    TransientDeliveryError,
)

__all__ = ["WhatsAppConnector", "credentials_of"]

FEATURES = (
    ChannelFeature.TEXT | ChannelFeature.MEDIA | ChannelFeature.CARD | ChannelFeature.CHOICE
    | ChannelFeature.LIST | ChannelFeature.LOCATION | ChannelFeature.TEMPLATE | ChannelFeature.READ_RECEIPTS
)
NO_OPT_IN_CODE = 0
"""`PermanentDeliveryError.code` for a refusal on our side that has no Graph code."""

_RETRY_AFTER = {ErrorCode.PAIR_RATE_LIMIT: 6.0, ErrorCode.RATE_LIMIT_HIT: 1.0, ErrorCode.SPAM_RATE_LIMIT: 60.0}
_BILLING = {"engagement": "MARKETING", "information": "UTILITY", "security": "AUTHENTICATION",
            "satisfaction": "UTILITY"}


def credentials_of(credentials: dict[str, Any]) -> tuple[str, str]:
    """(phone_number_id, access token) from a WHATSAPP channel_credentials entry."""
    bearer = credentials.get("static_bearer") or {}
    phone_number_id, token = bearer.get("claimed_identity"), bearer.get("token")
    if not phone_number_id or not token:
        raise ChannelAuthError("WHATSAPP credentials need static_bearer.claimed_identity and token")
    return str(phone_number_id), str(token)


class WhatsAppConnector:
    id = "whatsapp"
    channel = "WHATSAPP"
    features = FEATURES
    app_events = frozenset({"composing_event"})

    def __init__(self, ctx: ConnectorContext) -> None:
        self.ctx = ctx
        self.api_version = str(ctx.options.get("api_version", API_VERSION))

    @property
    def base_url(self) -> str:
        return self.ctx.base_url.rstrip("/")

    @property
    def register_webhook(self) -> bool:
        return bool(self.ctx.options.get("register_webhook", "/sandbox/platforms/" in self.base_url))

    # -- the contract ------------------------------------------------------------------------------

    async def capability(self, message: OutboundMessage) -> Capability:
        """The Cloud API has no contacts check: a number is reachable unless policy refuses it
        (an unknown number fails later with 131026)."""
        reason = policy.refusal(message, self.ctx.clock())
        return Capability(reachable=reason is None, reason=reason)

    async def send(self, message: OutboundMessage) -> SendResult:
        phone_number_id, token = credentials_of(message.credentials)
        reason = policy.refusal(message, self.ctx.clock())
        if reason is not None:
            code = ErrorCode.RE_ENGAGEMENT if reason == policy.OUTSIDE_WINDOW else NO_OPT_IN_CODE
            raise PermanentDeliveryError(reason, code)
        try:
            payloads = transcode(message.content, contact_language=message.contact_language)
        except TranscodeError as exc:
            raise PermanentDeliveryError(str(exc), exc.code) from exc
        to = message.identity.removeprefix("+")
        ids = [await self._post(phone_number_id, token, {"messaging_product": "whatsapp",
                                                          "recipient_type": "individual", "to": to, **p})
               for p in payloads]
        billing = _BILLING.get(message.purpose, "UTILITY") if is_template(message.content) else "SERVICE"
        return SendResult(ids[-1], billing_category=billing,
                          details={"channel_message_ids": ids, "phone_number_id": phone_number_id})

    async def send_event(self, credentials: dict[str, Any], identity: str, event: dict[str, Any], *,
                         last_inbound: InboundRef | None = None) -> None:
        """A composing_event as the typing indicator on the contact's newest message (read)."""
        phone_number_id, token = credentials_of(credentials)
        if last_inbound is None or self.ctx.clock() - last_inbound.at_ms > CUSTOMER_SERVICE_WINDOW_MS:
            raise OutsideSendingWindow("WhatsApp shows typing only in reply to a message the contact sent "
                                       "in the last 24 hours", ErrorCode.RE_ENGAGEMENT)
        payload = {"messaging_product": "whatsapp", "status": "read", "message_id": last_inbound.message_id,
                   "typing_indicator": {"type": "text"}}
        response = await post_graph(self.ctx.http, self.graph_url(f"{phone_number_id}/messages"), token, payload,
                                    "WhatsApp Cloud API")
        if response.status_code >= 300:
            raise _mapped(response)

    async def configure_app(self, app_id: str, credentials: dict[str, Any]) -> None:
        """Register the webhook URL, verify token and app secret with the sandbox twin's console
        (against the real Graph API the operator pastes them into the Meta app dashboard)."""
        if not self.register_webhook:
            return
        phone_number_id, token = credentials_of(credentials)
        body = {
            "access_token": token,
            "app_secret": credentials.get("callback_secret") or "",
            "webhook_url": self.webhook_url(app_id),
            "verify_token": self.verify_token(app_id, credentials),
        }
        await register_webhook(self.ctx.http, f"{self.base_url}/console/phone_numbers/{phone_number_id}", body,
                               "WhatsApp")

    def inbound_routes(self, sink: ChannelEventSink) -> list[BaseRoute]:
        return inbound_routes(self, sink)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    # -- helpers -----------------------------------------------------------------------------------

    def webhook_url(self, app_id: str) -> str:
        return f"{self.ctx.public_url.rstrip('/')}/channels/{self.id}/apps/{app_id}/webhook"

    def verify_token(self, app_id: str, credentials: dict[str, Any]) -> str:
        """The token Meta echoes in the GET verification: `options["verify_token"]`, else
        hex(HMAC-SHA256(callback_secret or access token, "whatsapp-verify:" + app_id))[:32]."""
        key = credentials.get("callback_secret") or (credentials.get("static_bearer") or {}).get("token")
        return derived_verify_token(self.ctx.options.get("verify_token"), key, f"whatsapp-verify:{app_id}")

    def graph_url(self, path: str) -> str:
        return f"{self.base_url}/{self.api_version}/{path}"

    async def _post(self, phone_number_id: str, token: str, payload: dict[str, Any]) -> str:
        response = await post_graph(self.ctx.http, self.graph_url(f"{phone_number_id}/messages"), token, payload,
                                    "WhatsApp Cloud API")
        if response.status_code < 300:
            try:
                return str(response.json()["messages"][0]["id"])
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise TransientDeliveryError(f"WhatsApp Cloud API answered without a message id: {response.text[:200]}") from exc
        raise _mapped(response)


def _mapped(response: PlatformResponse) -> Exception:
    code: int | None = None
    text = response.text[:300]
    try:
        error = response.json()["error"]
        code = int(error["code"])
        details = (error.get("error_data") or {}).get("details")
        text = f"{error.get('message', '')}" + (f": {details}" if details else "")
    except (ValueError, KeyError, TypeError):
        pass
    outcome = classify(code, response.status_code)
    return contract_error(outcome, f"WhatsApp {response.status_code} {text}", code, response, _RETRY_AFTER)
