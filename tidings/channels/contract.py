"""The contract every Conversation API channel connector implements (RCS, WhatsApp, Messenger,
Telegram, Viber, email, and SMS through the SMS pipeline).

The conversation engine hands a connector one `OutboundMessage` for one recipient on one channel:
the Conversation API message (`content`, the AppMessage JSON as the API received it, e.g.
`{"card_message": {...}}`) and the app's credentials for that channel. The connector renders it
natively (its `transcode.py`), degrading what the platform cannot show (see
`tidings/conversations/degrade.py` for the shared fallbacks), and sends it over the platform's
real HTTP API at the configured base URL.

Errors: `TransientDeliveryError` (5xx, timeouts, rate limits: the engine retries, then falls back),
`PermanentDeliveryError` (the platform refused it for good: the engine falls back at once),
`ChannelAuthError` (our credentials are wrong). Vendor errors are mapped at the boundary with
`raise ... from exc`.

What the platform tells us afterwards (delivered, read, failed, the user's replies and taps)
arrives at the connector's inbound routes, is checked with the platform's own signature scheme,
turned into `StatusEvent` / `InboundEvent` and handed to the `ChannelEventSink`, which stores them
durably before the route answers 2xx (so a platform redelivers whatever we could have lost).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from starlette.routing import BaseRoute

from tidings.channels.http_client import PlatformHttp


class ChannelFeature(enum.IntFlag):
    """What a channel renders natively; anything else is degraded."""

    TEXT = enum.auto()
    MEDIA = enum.auto()
    CARD = enum.auto()
    CAROUSEL = enum.auto()
    CHOICE = enum.auto()  # suggested replies and actions (reply, URL, dial, location, calendar)
    LIST = enum.auto()
    LOCATION = enum.auto()
    TEMPLATE = enum.auto()
    READ_RECEIPTS = enum.auto()
    TYPING = enum.auto()
    HTML = enum.auto()


@dataclass(frozen=True)
class Capability:
    """Whether a recipient can be reached on a channel now; `reason` says why not."""

    reachable: bool
    reason: str | None = None


Purpose = Literal["engagement", "information", "security", "satisfaction"]


@dataclass(frozen=True)
class OutboundMessage:
    message_id: str  # the Conversation API message id
    project_id: str
    app_id: str
    channel: str  # "RCS", "WHATSAPP", "MESSENGER", "TELEGRAM", "VIBER", "EMAIL", "SMS"
    identity: str  # the recipient on this channel: E.164, chat id, PSID, email address…
    content: dict[str, Any]  # the AppMessage JSON: exactly one *_message key (+ optional fields)
    credentials: dict[str, Any]  # the app's channel_credentials entry for this channel
    purpose: Purpose = "information"
    correlation_id: str | None = None
    contact_language: str | None = None
    contact_name: str | None = None
    # Within the channel's own customer-care window (WhatsApp's 24 hours): when the contact
    # last wrote to us on this channel, epoch ms, or None.
    last_inbound_ms: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    channel_message_id: str  # the platform's id for it; status events refer to it
    billing_category: str | None = None  # e.g. RCS "BASIC_MESSAGE", "SINGLE_MESSAGE", "CONVERSATION"
    details: dict[str, Any] = field(default_factory=dict)


DeliveryState = Literal["DELIVERED", "READ", "FAILED"]


@dataclass(frozen=True)
class StatusEvent:
    """The platform says what happened to a message we sent.

    A watermark (a platform that reports per conversation, not per message: Messenger's `read`)
    has `channel_message_id=""`, `up_to_ms` and `identity`: the status applies to everything sent
    to `identity` on `channel` (by the app `app_id`, when given) at or before `up_to_ms` (our
    send time, epoch ms). The event processor resolves it from the stored attempts, so it needs
    no memory of the sends in the process that received the webhook.
    """

    channel: str
    channel_message_id: str
    status: DeliveryState
    at_ms: int
    reason: str | None = None  # platform error code/text for FAILED
    identity: str | None = None  # watermarks: the recipient
    up_to_ms: int | None = None  # watermarks: every message sent at or before this time
    app_id: str | None = None  # watermarks: only this app's messages

    @property
    def is_watermark(self) -> bool:
        return not self.channel_message_id and self.up_to_ms is not None and bool(self.identity)


@dataclass(frozen=True)
class InboundEvent:
    """The contact wrote, tapped a suggestion, or shared something.

    `content` is a Conversation API ContactMessage: {"text_message": {"text": ...}},
    {"choice_response_message": {"message_id": ..., "postback_data": ...}},
    {"media_message": {"url": ...}}, {"location_message": {...}}; plus `reply_to` when the
    platform says which message was answered.
    """

    channel: str
    app_id: str
    identity: str  # the contact on this channel
    channel_message_id: str
    at_ms: int
    content: dict[str, Any]
    display_name: str | None = None
    reply_to_channel_message_id: str | None = None


ChannelEvent = StatusEvent | InboundEvent


class ChannelEventSink(Protocol):
    async def accept(self, events: Sequence[ChannelEvent]) -> None:
        """Store the events durably (returns after commit)."""
        ...

    async def credentials(self, app_id: str, channel: str) -> dict[str, Any] | None:
        """The app's credentials for `channel` (to check an inbound webhook's signature);
        None when the app does not exist or has no such channel."""
        ...


@dataclass
class ConnectorContext:
    """What a connector is built with."""

    base_url: str  # the platform API's base URL (the sandbox twin's by default)
    http: PlatformHttp
    clock: Callable[[], int]
    public_url: str  # where Tidings is reachable, for webhook URLs registered with platforms
    options: dict[str, Any] = field(default_factory=dict)


class ConversationConnector(Protocol):
    id: str  # == folder name under channels/ == manifest id
    channel: str  # the Conversation API channel name
    features: ChannelFeature

    async def capability(self, message: OutboundMessage) -> Capability: ...

    async def send(self, message: OutboundMessage) -> SendResult: ...

    async def configure_app(self, app_id: str, credentials: dict[str, Any]) -> None:
        """An app's credentials for this channel were created or changed (and at start, for
        every app): register the webhook URL where the platform has an API for it (Telegram
        setWebhook, Viber set_webhook, the sandbox twins' console); a no-op where the operator
        configures it in the platform's console."""
        ...

    def inbound_routes(self, sink: ChannelEventSink) -> list[BaseRoute]:
        """Routes for the platform's callbacks, relative to /channels/{id}; the app id is part
        of the path (`/apps/{app_id}/...`) so the right credentials check the signature."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class InboundRef:
    """The contact's newest message to the app on the event's channel: the platform's message id
    and when it arrived (WhatsApp shows typing only as a reply to a message it names)."""

    message_id: str
    at_ms: int


class AppEventSender(Protocol):
    """What a connector that can show app events (`events:send`: composing indicators, …) adds:
    the AppEvent kinds it shows (`"composing_event"`, `"composing_end_event"`, …) and
    `send_event`, which raises the contract's errors as `send` does. A connector without it, or
    an event kind not listed, is answered FAILED with UNSUPPORTED_OPERATION
    (`conversations/app_events.py`)."""

    app_events: frozenset[str]

    async def send_event(self, credentials: dict[str, Any], identity: str, event: dict[str, Any], *,
                         last_inbound: InboundRef | None = None) -> None:
        """Show `event` (the AppEvent JSON: one *_event key) to `identity`; `last_inbound`: the
        contact's newest message on this channel, when there is one."""
        ...


ConnectorFactory = Callable[[ConnectorContext], ConversationConnector]
SinkCallback = Callable[[Sequence[ChannelEvent]], Awaitable[None]]
