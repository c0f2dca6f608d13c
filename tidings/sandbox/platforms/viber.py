"""A Viber REST Bot API twin: the calls Tidings' Viber connector uses, backed by sandbox handsets
with the VIBER capability.

Served under `/sandbox/platforms/viber/` (header `X-Viber-Auth-Token` on every `pa/` call):

    POST /pa/set_webhook        {"url", "event_types", "send_name", "send_photo"}; the URL is
                                checked first with a signed {"event": "webhook"} callback
    POST /pa/send_message       → {"status": 0, "status_message": "ok", "message_token": …}
    POST /pa/get_account_info   the account (id, name, uri, webhook, event_types)
    PUT  /console/settings      {"delivered_after_ms", "seen_after_ms", "read_receipts"}
    POST /console/faults        {"status": 12, "count": 1} or {"http_status": 503, "count": 1}
    PUT|DELETE /console/accounts/{account id}/unsubscribed/{user id}   the user leaves (rejoins)

Any token of 16+ characters of A-Z a-z 0-9 and "-" is an account, created on first use, until
revoked (`revoke`); anything else is status 2 invalidAuthToken. As on Viber, every answer is HTTP
200 with a `status`, nothing can be sent before a webhook is set (10 webhookNotSet), and a user
who is not subscribed (a handset without VIBER, or one that unsubscribed) is 6 notSubscribed.

After a send the handset receives the message and the twin calls back, signed
`X-Viber-Content-Signature` with the token: `delivered`, then `seen` (unless read receipts are
off). Handsets write and tap keyboard or rich media buttons through `handset_sends` (a tap sends
the button's ActionBody as a text message, `silent` as the button says).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tidings.channels.viber.restapi import (
    AUTH_HEADER,
    EVENT_TYPES,
    SIGNATURE_HEADER,
    STATUS_MESSAGES,
    Status,
    sign,
)
from tidings.channels.viber.transcode import decode_action_body
from tidings.sandbox.handsets import Handset
from tidings.sandbox.platforms.common import (
    WEBHOOK_ATTEMPTS,
    PlatformTwin,
    app_message,
    json_object,
    json_response,
    kept_list,
    pairs,
    post_with_retries,
    remember,
    revived,
)
from tidings.sandbox.platforms.viber_render import (
    ViberFault,
    buttons_of,
    handset_text,
    validate,
)
from tidings.sandbox.state_file import member

if TYPE_CHECKING:
    from tidings.sandbox.world import Sandbox

__all__ = ["Account", "ViberTwin", "create_twin"]

_TOKEN = re.compile(r"^[A-Za-z0-9-]{16,}$")
CHAT_HOSTNAME = "SN-CHAT-05_"
USER_API_VERSION = 10


@dataclass
class Account:
    token: str
    account_id: str
    name: str
    uri: str
    webhook_url: str | None = None
    event_types: list[str] = field(default_factory=lambda: list(EVENT_TYPES))


@dataclass
class Sent:
    account_id: str
    user_id: str
    message_token: int
    body: dict[str, Any]


class ViberTwin(PlatformTwin):
    channel = "VIBER"
    name = "viber"
    settings = ("delivered_after_ms", "seen_after_ms", "read_receipts")

    def __init__(self, sandbox: Sandbox, *, clock: Callable[[], int] | None = None,
                 delivered_after_ms: int = 20, seen_after_ms: int = 80, read_receipts: bool = True) -> None:
        super().__init__(sandbox, clock)
        self.delivered_after_ms = delivered_after_ms
        self.seen_after_ms = seen_after_ms
        self.read_receipts = read_receipts
        self.accounts: dict[str, Account] = {}  # by token
        self.revoked: set[str] = set()
        self.unsubscribed: set[tuple[str, str]] = set()  # (account id, user id)
        self.faults: deque[tuple[int, int]] = deque()  # (HTTP status, Viber status)
        self._sent: OrderedDict[int, Sent] = OrderedDict()

    def saved(self) -> dict[str, Any]:
        return {"accounts": [dataclasses.asdict(account) for account in self.accounts.values()],
                "revoked": sorted(self.revoked), "unsubscribed": sorted(self.unsubscribed),
                "sent": [dataclasses.asdict(sent) for sent in self._sent.values() if buttons_of(sent.body)]}

    def take_back(self, document: dict[str, Any]) -> None:
        accounts = [revived(Account, account) for account in member(document, "accounts", list)]
        revoked = {str(token) for token in member(document, "revoked", list)}
        unsubscribed = {(str(account), str(user)) for account, user in pairs(document, "unsubscribed")}
        sent = [revived(Sent, s) for s in kept_list(document, "sent")]  # those with buttons: taps after a restart
        self.accounts.update((account.token, account) for account in accounts)
        self.revoked |= revoked
        self.unsubscribed |= unsubscribed
        for message in sent:
            remember(self._sent, message.message_token, message)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/pa/set_webhook", self._api(self._set_webhook), methods=["POST"]),
            Route("/pa/send_message", self._api(self._send_message), methods=["POST"]),
            Route("/pa/get_account_info", self._api(self._account_info), methods=["POST"]),
            Route("/console/settings", self._console_settings, methods=["GET", "PUT"]),
            Route("/console/faults", self._console_faults, methods=["POST"]),
            Route("/console/accounts/{account_id}/unsubscribed/{user_id}", self._console_unsubscribe,
                  methods=["PUT", "DELETE"]),
        ]

    # -- accounts ----------------------------------------------------------------------------------

    def account(self, token: str) -> Account:
        if not _TOKEN.match(token) or token in self.revoked:
            raise ViberFault(Status.INVALID_AUTH_TOKEN, STATUS_MESSAGES[Status.INVALID_AUTH_TOKEN])
        account = self.accounts.get(token)
        if account is None:
            number = int.from_bytes(hashlib.sha256(token.encode()).digest()[:8], "big") % 10**20
            account = self.accounts[token] = Account(token, f"pa:{number}", f"Tidings {number % 10000}",
                                                     f"tidings{number % 10000}")
        return account

    def revoke(self, token: str) -> None:
        self.revoked.add(token)

    def _account_for(self, to: str) -> Account:
        for account in self.accounts.values():
            if to in (account.account_id, account.uri, account.name, account.token):
                return account
        raise LookupError(f"no Viber account {to!r} in the sandbox")

    # -- the REST API ------------------------------------------------------------------------------

    def _api(self, handler: Callable[[Account, dict[str, Any]], Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                account = self.account(request.headers.get(AUTH_HEADER, ""))
                try:
                    body = orjson.loads(await request.body())
                except orjson.JSONDecodeError as exc:
                    raise ViberFault(Status.BAD_DATA, "failed to parse the request body") from exc
                if not isinstance(body, dict):
                    raise ViberFault(Status.BAD_DATA, "the request body must be a JSON object")
                result = await handler(account, body)
                if isinstance(result, Response):
                    return result
                return json_response({"status": 0, "status_message": "ok", **result})
            except ViberFault as exc:
                return json_response({"status": exc.status, "status_message": exc.status_message})
        return endpoint

    async def _set_webhook(self, account: Account, body: dict[str, Any]) -> dict[str, Any]:
        url = body.get("url")
        if not isinstance(url, str):
            raise ViberFault(Status.MISSING_DATA, "url is missing")
        if url == "":
            account.webhook_url = None
            return {}
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise ViberFault(Status.INVALID_URL, STATUS_MESSAGES[Status.INVALID_URL])
        types = body.get("event_types")
        events = [t for t in types if t in EVENT_TYPES] if isinstance(types, list) else list(EVENT_TYPES)
        check = {"event": "webhook", "timestamp": self.clock(), "chat_hostname": CHAT_HOSTNAME,
                 "message_token": _message_token()}
        status = await self._post(account.token, url, check, attempts=1)
        if status != 200:
            raise ViberFault(Status.INVALID_URL, f"Result[HttpRequest[POST {urlsplit(url).path or '/'}]] "
                                                 f"is not 200 ({status})")
        account.webhook_url = url
        account.event_types = events
        return {"chat_hostname": CHAT_HOSTNAME, "event_types": events}

    async def _account_info(self, account: Account, body: dict[str, Any]) -> dict[str, Any]:
        return {"id": account.account_id, "name": account.name, "uri": account.uri, "icon": "",
                "background": "", "category": "Business", "subcategory": "Customer service",
                "country": "SE", "webhook": account.webhook_url or "", "event_types": account.event_types,
                "subscribers_count": 0, "members": []}

    async def _send_message(self, account: Account, body: dict[str, Any]) -> Any:
        if self.faults:
            http_status, status = self.faults.popleft()
            if http_status != 200:
                return json_response({"error": "Service Unavailable"}, http_status)
            raise ViberFault(status, STATUS_MESSAGES.get(status, "generalError"))
        if account.webhook_url is None:
            raise ViberFault(Status.WEBHOOK_NOT_SET, STATUS_MESSAGES[Status.WEBHOOK_NOT_SET])
        validate(body)
        handset = self._subscriber(account, str(body["receiver"]))
        token = _message_token()
        remember(self._sent, token, Sent(account.account_id, str(body["receiver"]), token, body))
        self.spawn(self._deliver(account, handset, token, body))
        return {"message_token": token, "chat_hostname": CHAT_HOSTNAME, "billing_status": 1}

    def _subscriber(self, account: Account, user_id: str) -> Handset:
        handset = self.sandbox.handsets.by_identity(self.channel, user_id)
        if handset is None or not handset.has(self.channel) or (account.account_id, user_id) in self.unsubscribed:
            raise ViberFault(Status.RECEIVER_NOT_SUBSCRIBED, STATUS_MESSAGES[Status.RECEIVER_NOT_SUBSCRIBED])
        return handset

    # -- what happens after a send -----------------------------------------------------------------

    async def _deliver(self, account: Account, handset: Handset, token: int, body: dict[str, Any]) -> None:
        user_id = str(body["receiver"])
        await self.pause(self.delivered_after_ms / 1000)
        self.sandbox.handsets.receive(handset, app_message(
            sender=account.name, recipient=handset.number, body=handset_text(body), at_ms=self.clock(),
            message_id=str(token), channel=self.channel, content=body))
        await self._event(account, "delivered", {"message_token": token, "user_id": user_id})
        if self.read_receipts:
            await self.pause(self.seen_after_ms / 1000)
            await self._event(account, "seen", {"message_token": token, "user_id": user_id})

    async def fail(self, message_token: int, desc: str = "user's device does not support the message") -> None:
        """Report a message `failed` (as Viber does when a device cannot show it)."""
        sent = self._sent[message_token]
        account = next(a for a in self.accounts.values() if a.account_id == sent.account_id)
        await self._event(account, "failed", {"message_token": message_token, "user_id": sent.user_id,
                                              "desc": desc})

    async def _event(self, account: Account, event: str, fields: dict[str, Any]) -> None:
        if event in EVENT_TYPES and event not in account.event_types:
            return
        if account.webhook_url is None:
            return
        callback = {"event": event, "timestamp": self.clock(), "chat_hostname": CHAT_HOSTNAME, **fields}
        await self._callback(account, callback)

    async def _callback(self, account: Account, callback: dict[str, Any]) -> None:
        """POST a callback to the account's webhook (Viber takes only a 200); owed when not taken."""
        assert account.webhook_url is not None
        body, headers = self._signed(account.token, callback)
        await self.post_webhook(account.webhook_url, body, headers, accept=(200,))

    def _signed(self, token: str, callback: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        body = orjson.dumps(callback)
        return body, {"Content-Type": "application/json", SIGNATURE_HEADER: sign(token, body)}

    async def _post(self, token: str, url: str, callback: dict[str, Any], attempts: int = WEBHOOK_ATTEMPTS) -> int:
        """POST a callback signed with the account token; the last HTTP status (0: unreachable)."""
        body, headers = self._signed(token, callback)
        return await post_with_retries(self.http(), url, body, headers, attempts=attempts, accept=(200,))

    # -- the handset side --------------------------------------------------------------------------

    def _user(self, handset: Handset) -> dict[str, Any]:
        return {"id": handset.identity(self.channel), "name": handset.number, "avatar": "",
                "language": "en", "country": handset.country or "SE", "api_version": USER_API_VERSION}

    async def handset_sends(self, handset: Handset, to: str, *, body: str | None, postback: str | None) -> str:
        account = self._account_for(to)
        user = self._user(handset)
        self.unsubscribed.discard((account.account_id, user["id"]))
        silent = False
        if postback is not None:
            button = self._find_button(account, user["id"], postback)
            text, shown, silent = str(button["ActionBody"]), str(button.get("Text") or postback), \
                bool(button.get("Silent"))
        else:
            text = shown = body or ""
        return await self._message(account, handset, {"type": "text", "text": text}, shown, silent=silent)

    async def handset_sends_media(self, handset: Handset, to: str, *, url: str, mime_type: str,
                                  caption: str | None = None) -> str:
        account = self._account_for(to)
        kind = "picture" if mime_type.startswith("image/") else ("video" if mime_type.startswith("video/") else "file")
        message: dict[str, Any] = {"type": kind, "media": url}
        if caption:
            message["text"] = caption
        if kind == "file":
            message |= {"file_name": url.rsplit("/", 1)[-1], "size": 0}
        return await self._message(account, handset, message, caption or url)

    async def handset_shares_location(self, handset: Handset, to: str, latitude: float, longitude: float) -> str:
        account = self._account_for(to)
        return await self._message(account, handset, {"type": "location", "location": {"lat": latitude,
                                                                                          "lon": longitude}},
                                   f"{latitude},{longitude}")

    def _find_button(self, account: Account, user_id: str, postback: str) -> dict[str, Any]:
        for sent in reversed(self._sent.values()):
            if sent.account_id != account.account_id or sent.user_id != user_id:
                continue
            for button in buttons_of(sent.body):
                if button.get("ActionType", "reply") != "reply":
                    continue
                action_body = str(button.get("ActionBody") or "")
                if postback in (action_body, button.get("Text"), decode_action_body(action_body)[1]):
                    return button
        raise LookupError(f"no reply button {postback!r} was sent to {user_id}")

    async def _message(self, account: Account, handset: Handset, message: dict[str, Any], shown: str, *,
                       silent: bool = False) -> str:
        token = _message_token()
        callback = {"event": "message", "timestamp": self.clock(), "chat_hostname": CHAT_HOSTNAME,
                    "message_token": token, "sender": self._user(handset), "message": message, "silent": silent}
        self.sandbox.handsets.record_sent(handset, app_message(
            sender=handset.number, recipient=account.name, body=shown, at_ms=self.clock(), message_id=str(token),
            channel=self.channel, content=callback))
        if account.webhook_url is not None:
            await self._callback(account, callback)
        return str(token)

    # -- console -----------------------------------------------------------------------------------

    async def _console_faults(self, request: Request) -> Response:
        body = await json_object(request)
        status, http_status, count = body.get("status", 0), body.get("http_status", 200), body.get("count", 1)
        if not all(isinstance(x, int) for x in (status, http_status, count)) or count < 0 or \
                (status == 0 and http_status == 200):
            return json_response({"error": "give status (non-zero) or http_status (not 200), and count"}, 400)
        self.faults.extend([(http_status, status)] * count)
        return json_response({"pending": len(self.faults)})

    async def _console_unsubscribe(self, request: Request) -> Response:
        key = (request.path_params["account_id"], request.path_params["user_id"])
        if request.method == "PUT":
            self.unsubscribed.add(key)
        else:
            self.unsubscribed.discard(key)
        return json_response({"unsubscribed": key in self.unsubscribed})


def _message_token() -> int:
    return int.from_bytes(os.urandom(8), "big") >> 1


def create_twin(sandbox: Sandbox, *, clock: Callable[[], int] | None = None) -> ViberTwin:
    return ViberTwin(sandbox, clock=clock)
