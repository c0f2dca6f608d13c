"""`MessengerConnector`: sends through the Messenger Platform Send API
(`POST /{version}/{page_id}/messages`, or `/me/messages` when the page id is not known).

Credentials are the app's MESSENGER entry: `static_token.token` is the Page access token,
`callback_secret` the Meta app secret that signs webhooks, and the page id is taken from
`claimed_identity` (in `static_token`, `static_bearer` or the entry itself) when present.
Options (`ConnectorContext.options`): `api_version` (default `graph.API_VERSION`), `verify_token`
(the webhook verify token; default derived per app, see `verify_token`), `register_webhook`
(register the webhook URL with the platform console; default on for a sandbox twin base URL),
`sent_log` (a `SentLog` of its own instead of the process's shared one).

App events (`events:send`, `send_event`): a composing_event is the sender action `typing_on`, a
composing_end_event `typing_off` (the same Send API, no message id in the answer).

Errors map to the contract by Graph code (`graph.classify`): 1200, 613, 4, 2 and 5xx →
transient; 190, 230 and permission errors → `ChannelAuthError`; the rest (551 person
unavailable, 100/2018001 no such user, 10/2018278 outside the window…) → permanent.
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
from tidings.channels.messenger import policy
from tidings.channels.messenger.graph import API_VERSION, ErrorCode, classify
from tidings.channels.messenger.inbound import inbound_routes
from tidings.channels.messenger.sent import PROCESS_LOG, SentLog
from tidings.channels.messenger.transcode import TranscodeError, transcode
from tidings.core.errors import (
    ChannelAuthError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

__all__ = ["MessengerConnector", "credentials_of", "offered_payloads"]

FEATURES = (
    ChannelFeature.TEXT | ChannelFeature.MEDIA | ChannelFeature.CARD | ChannelFeature.CAROUSEL
    | ChannelFeature.CHOICE | ChannelFeature.READ_RECEIPTS | ChannelFeature.TYPING
)
SENDER_ACTIONS = {"composing_event": "typing_on", "composing_end_event": "typing_off"}
NOTIFICATION_TYPES = ("REGULAR", "SILENT_PUSH", "NO_PUSH")
_RETRY_AFTER = {ErrorCode.RATE_LIMIT: 5.0, ErrorCode.TOO_MANY_CALLS: 5.0, ErrorCode.TEMPORARY_SEND_FAILURE: 1.0}


def credentials_of(credentials: dict[str, Any]) -> tuple[str | None, str]:
    """(page id or None, Page access token) from a MESSENGER channel_credentials entry."""
    static = credentials.get("static_token") or {}
    bearer = credentials.get("static_bearer") or {}
    token = static.get("token") or bearer.get("token")
    if not token:
        raise ChannelAuthError("MESSENGER credentials need static_token.token (the Page access token)")
    page_id = static.get("claimed_identity") or bearer.get("claimed_identity") or credentials.get("claimed_identity")
    return (str(page_id) if page_id else None), str(token)


def offered_payloads(message: dict[str, Any]) -> list[str]:
    """The postback payloads a Send API `message` offers (quick replies, postback buttons)."""
    out = [str(q["payload"]) for q in message.get("quick_replies") or [] if q.get("content_type") == "text"]
    payload = (message.get("attachment") or {}).get("payload") or {}
    buttons = list(payload.get("buttons") or [])
    for element in payload.get("elements") or []:
        buttons.extend(element.get("buttons") or [])
    out.extend(str(b["payload"]) for b in buttons if b.get("type") == "postback" and "payload" in b)
    return out


class MessengerConnector:
    id = "messenger"
    channel = "MESSENGER"
    features = FEATURES
    app_events = frozenset(SENDER_ACTIONS)

    def __init__(self, ctx: ConnectorContext) -> None:
        self.ctx = ctx
        self.api_version = str(ctx.options.get("api_version", API_VERSION))
        log = ctx.options.get("sent_log")
        self.sent: SentLog = log if isinstance(log, SentLog) else PROCESS_LOG

    @property
    def base_url(self) -> str:
        return self.ctx.base_url.rstrip("/")

    @property
    def register_webhook(self) -> bool:
        return bool(self.ctx.options.get("register_webhook", "/sandbox/platforms/" in self.base_url))

    # -- the contract ------------------------------------------------------------------------------

    async def capability(self, message: OutboundMessage) -> Capability:
        """Messenger has no reachability check: a PSID is reachable unless the window (or the
        tag rules) refuse the message; a person gone since fails the send with 551."""
        reason = policy.refusal(message, self.ctx.clock())
        return Capability(reachable=reason is None, reason=reason)

    async def send(self, message: OutboundMessage) -> SendResult:
        page_id, token = credentials_of(message.credentials)
        reason = policy.refusal(message, self.ctx.clock())
        if reason is not None:
            raise PermanentDeliveryError(reason, ErrorCode.PERMISSION_DENIED if reason == policy.OUTSIDE_WINDOW
                                         else ErrorCode.INVALID_PARAMETER)
        try:
            messages = transcode(message.content)
        except TranscodeError as exc:
            raise PermanentDeliveryError(str(exc), exc.code) from exc
        messaging_type, tag = policy.messaging(message)
        envelope: dict[str, Any] = {"recipient": {"id": message.identity}, "messaging_type": messaging_type}
        if tag is not None:
            envelope["tag"] = tag
        notification = policy.properties(message).get("MESSENGER_NOTIFICATION_TYPE", "").upper()
        if notification in NOTIFICATION_TYPES:
            envelope["notification_type"] = notification
        ids = []
        for native in messages:
            sent_ms = self.ctx.clock()
            mid = await self._post(page_id, token, {**envelope, "message": native})
            self.sent.add(message.app_id, message.identity, mid, sent_ms, offered_payloads(native))
            ids.append(mid)
        return SendResult(ids[-1], details={"channel_message_ids": ids, "page_id": page_id,
                                            "messaging_type": messaging_type, "tag": tag})

    async def send_event(self, credentials: dict[str, Any], identity: str, event: dict[str, Any], *,
                         last_inbound: InboundRef | None = None) -> None:
        """An app event as a sender action (`app_events`: typing on, typing off)."""
        page_id, token = credentials_of(credentials)
        action = SENDER_ACTIONS[next(iter(event))]
        response = await post_graph(self.ctx.http, self.graph_url(f"{page_id or 'me'}/messages"), token,
                                    {"recipient": {"id": identity}, "sender_action": action},
                                    "Messenger Send API")
        if response.status_code >= 300:
            raise _mapped(response)

    async def configure_app(self, app_id: str, credentials: dict[str, Any]) -> None:
        """Register the webhook URL, verify token and app secret with the sandbox twin's console
        (against the real platform the operator enters them in the Meta app dashboard and
        subscribes the page to the app)."""
        if not self.register_webhook:
            return
        page_id, token = credentials_of(credentials)
        body = {
            "access_token": token,
            "app_secret": credentials.get("callback_secret") or "",
            "webhook_url": self.webhook_url(app_id),
            "verify_token": self.verify_token(app_id, credentials),
        }
        await register_webhook(self.ctx.http, f"{self.base_url}/console/pages/{page_id or 'me'}", body, "Messenger")

    def inbound_routes(self, sink: ChannelEventSink) -> list[BaseRoute]:
        return inbound_routes(self, sink)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    # -- helpers -----------------------------------------------------------------------------------

    def page_id_of(self, credentials: dict[str, Any]) -> str | None:
        try:
            return credentials_of(credentials)[0]
        except ChannelAuthError:
            return None

    def webhook_url(self, app_id: str) -> str:
        return f"{self.ctx.public_url.rstrip('/')}/channels/{self.id}/apps/{app_id}/webhook"

    def verify_token(self, app_id: str, credentials: dict[str, Any]) -> str:
        """The token Meta echoes in the GET verification: `options["verify_token"]`, else
        hex(HMAC-SHA256(callback_secret or access token, "messenger-verify:" + app_id))[:32]."""
        key = credentials.get("callback_secret") or (credentials.get("static_token") or {}).get("token")
        return derived_verify_token(self.ctx.options.get("verify_token"), key, f"messenger-verify:{app_id}")

    def graph_url(self, path: str) -> str:
        return f"{self.base_url}/{self.api_version}/{path}"

    async def _post(self, page_id: str | None, token: str, payload: dict[str, Any]) -> str:
        response = await post_graph(self.ctx.http, self.graph_url(f"{page_id or 'me'}/messages"), token, payload,
                                    "Messenger Send API")
        if response.status_code < 300:
            try:
                return str(response.json()["message_id"])
            except (ValueError, KeyError, TypeError) as exc:
                raise TransientDeliveryError(
                    f"Messenger Send API answered without a message id: {response.text[:200]}") from exc
        raise _mapped(response)


def _mapped(response: PlatformResponse) -> Exception:
    code: int | None = None
    subcode: int | None = None
    text = response.text[:300]
    try:
        error = response.json()["error"]
        code = int(error["code"])
        subcode = int(error["error_subcode"]) if error.get("error_subcode") is not None else None
        text = str(error.get("message", ""))
    except (ValueError, KeyError, TypeError):
        pass
    outcome = classify(code, subcode, response.status_code)
    label = f"Messenger {response.status_code} {text}" + (f" (subcode {subcode})" if subcode else "")
    return contract_error(outcome, label, code, response, _RETRY_AFTER)
