"""`TelegramConnector`: sends through the Telegram Bot API (`POST {base}/bot{token}/{method}`).

Credentials are the app's TELEGRAM entry: `telegram_credentials.token` (the bot token from
@BotFather) and optionally `callback_secret` (from which the webhook's secret token is derived,
see `botapi.derive_secret_token`). Options (`ConnectorContext.options`): `secret_token` (use this
webhook secret instead of the derived one), `allowed_updates` (default message, edited_message,
callback_query), `capability_ttl_ms` (how long a successful `getChat` is trusted, default 5 min).

The recipient identity is the chat id (a private chat's id is the user's id). The channel message
id is `"{chat_id}:{message_id}"` (Telegram numbers messages per chat); a message that needs
several calls (a carousel, long text) records them all in `SendResult.details["channel_message_ids"]`
and the last is its id.

Telegram has no delivery or read receipts: a send the Bot API accepted is reported DELIVERED at
once (a `StatusEvent` handed to the sink just after `send` returns); READ never comes.

App events (`events:send`, `send_event`): a composing_event is `sendChatAction` with the action
`typing` (Telegram shows it for up to 5 s, or until the bot's next message). Telegram has no call
that ends it, so composing_end_event is not offered (FAILED, UNSUPPORTED_OPERATION).

Errors: 429 → TransientDeliveryError(retry_after = parameters.retry_after), 5xx and timeouts →
transient, 401 → ChannelAuthError, 400 ("chat not found", bad media URL…) and 403 ("bot was
blocked by the user", "bot can't initiate conversation with a user") → PermanentDeliveryError
with the HTTP status as code.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

import httpx
from starlette.routing import BaseRoute

from tidings.channels.background import BackgroundTasks
from tidings.channels.contract import (
    Capability,
    ChannelEventSink,
    ChannelFeature,
    ConnectorContext,
    InboundRef,
    OutboundMessage,
    SendResult,
)
from tidings.channels.telegram.botapi import BotApiError, classify, derive_secret_token
from tidings.channels.telegram.inbound import inbound_routes
from tidings.channels.telegram.transcode import TranscodeError, transcode
from tidings.core.errors import (
    ChannelAuthError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

__all__ = ["BotApiError", "TelegramConnector", "token_of"]

log = logging.getLogger(__name__)

CHAT_ACTIONS = {"composing_event": "typing"}
FEATURES = (ChannelFeature.TEXT | ChannelFeature.MEDIA | ChannelFeature.CARD | ChannelFeature.CAROUSEL
            | ChannelFeature.CHOICE | ChannelFeature.LIST | ChannelFeature.LOCATION)
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
_MAX_POSTBACKS = 50_000
_CAPABILITY_TTL_MS = 300_000
_MAX_CAPABILITIES = 50_000
TRANSCODE_ERROR_CODE = 400


def token_of(credentials: dict[str, Any]) -> str:
    token = (credentials.get("telegram_credentials") or {}).get("token")
    if not token:
        raise ChannelAuthError("TELEGRAM credentials need telegram_credentials.token")
    return str(token)


class TelegramConnector:
    id = "telegram"
    channel = "TELEGRAM"
    features = FEATURES
    app_events = frozenset(CHAT_ACTIONS)

    def __init__(self, ctx: ConnectorContext) -> None:
        self.ctx = ctx
        self._sink: ChannelEventSink | None = None
        self._background = BackgroundTasks("telegram")
        # Postback data longer than callback_data's 64 bytes, by the hashed data we sent instead.
        self.postbacks: OrderedDict[str, str] = OrderedDict()
        self._reachable: OrderedDict[tuple[str, str], int] = OrderedDict()

    @property
    def base_url(self) -> str:
        return self.ctx.base_url.rstrip("/")

    # -- the contract ------------------------------------------------------------------------------

    async def capability(self, message: OutboundMessage) -> Capability:
        """`getChat`: a chat the bot does not know (400 "chat not found") cannot be written to."""
        token = token_of(message.credentials)
        key = (token, message.identity)
        now = self.ctx.clock()
        ttl = int(self.ctx.options.get("capability_ttl_ms", _CAPABILITY_TTL_MS))
        if now - self._reachable.get(key, -ttl - 1) <= ttl:
            return Capability(True)
        try:
            await self.call(token, "getChat", {"chat_id": message.identity})
        except BotApiError as exc:
            if classify(exc.error_code, exc.description) == "permanent":
                return Capability(False, exc.description)
            return Capability(True)  # rate limited or down: let the send decide
        except TransientDeliveryError:
            return Capability(True)
        self._reachable[key] = now
        while len(self._reachable) > _MAX_CAPABILITIES:
            self._reachable.popitem(last=False)
        return Capability(True)

    async def send(self, message: OutboundMessage) -> SendResult:
        token = token_of(message.credentials)
        try:
            rendered = transcode(message.content)
        except TranscodeError as exc:
            raise PermanentDeliveryError(str(exc), TRANSCODE_ERROR_CODE) from exc
        self.remember_postbacks(rendered.postbacks)
        ids: list[str] = []
        for call in rendered.calls:
            try:
                result = await self.call(token, call.method, {"chat_id": message.identity, **call.params})
            except BotApiError as exc:
                raise exc.mapped() from exc
            for sent in result if isinstance(result, list) else [result]:
                ids.append(f"{sent['chat']['id']}:{sent['message_id']}")
        if not ids:
            raise TransientDeliveryError("Telegram answered without a message")
        self._background.report_delivered(self.channel, ids[-1], lambda: self._sink, self.ctx.clock)
        return SendResult(ids[-1], details={"channel_message_ids": ids})

    async def send_event(self, credentials: dict[str, Any], identity: str, event: dict[str, Any], *,
                         last_inbound: InboundRef | None = None) -> None:
        """An app event as a chat action (`app_events`: typing)."""
        action = CHAT_ACTIONS[next(iter(event))]
        try:
            await self.call(token_of(credentials), "sendChatAction", {"chat_id": identity, "action": action})
        except BotApiError as exc:
            raise exc.mapped() from exc

    async def configure_app(self, app_id: str, credentials: dict[str, Any]) -> None:
        """`setWebhook` with the app's inbound URL and secret token."""
        token = token_of(credentials)
        params = {"url": self.webhook_url(app_id), "secret_token": self.secret_token(app_id, credentials),
                  "allowed_updates": list(self.ctx.options.get("allowed_updates", ALLOWED_UPDATES))}
        try:
            await self.call(token, "setWebhook", params)
        except BotApiError as exc:
            if classify(exc.error_code, exc.description) == "auth":
                raise ChannelAuthError(str(exc)) from exc
            raise TransientDeliveryError(f"setWebhook failed: {exc}") from exc

    def inbound_routes(self, sink: ChannelEventSink) -> list[BaseRoute]:
        self._sink = sink
        return inbound_routes(self, sink)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        await self._background.aclose()

    # -- helpers -----------------------------------------------------------------------------------

    def webhook_url(self, app_id: str) -> str:
        return f"{self.ctx.public_url.rstrip('/')}/channels/{self.id}/apps/{app_id}/webhook"

    def secret_token(self, app_id: str, credentials: dict[str, Any]) -> str:
        configured = self.ctx.options.get("secret_token")
        return str(configured) if configured else derive_secret_token(app_id, credentials)

    def remember_postbacks(self, postbacks: dict[str, str]) -> None:
        for data, postback in postbacks.items():
            self.postbacks[data] = postback
            self.postbacks.move_to_end(data)
        while len(self.postbacks) > _MAX_POSTBACKS:
            self.postbacks.popitem(last=False)

    async def call(self, token: str, method: str, params: dict[str, Any]) -> Any:
        """One Bot API call; its `result`, or BotApiError / TransientDeliveryError."""
        url = f"{self.base_url}/bot{token}/{method}"
        try:
            response = await self.ctx.http.post(url, json=params)
        except httpx.TimeoutException as exc:
            raise TransientDeliveryError(f"Telegram {method} timed out: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise TransientDeliveryError(f"Telegram {method} unreachable: {exc!r}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("ok") is True and response.status_code < 300:
            return body.get("result")
        if not isinstance(body, dict):
            if response.status_code >= 500 or response.status_code < 300:
                raise TransientDeliveryError(f"Telegram {method}: {response.status_code} {response.text[:200]}")
            raise BotApiError(response.status_code, response.text[:200])
        retry_after = (body.get("parameters") or {}).get("retry_after")
        raise BotApiError(int(body.get("error_code") or response.status_code), str(body.get("description") or ""),
                          float(retry_after) if isinstance(retry_after, int | float) else None)

