"""A Messenger Platform twin: the Send API subset Tidings' Messenger connector uses, backed by
sandbox handsets with the MESSENGER capability (known to a page by their PSID,
`Handset.identity("MESSENGER")`, e.g. "psid-46701234567").

Served under `/sandbox/platforms/messenger/`:

    POST /{version}/me/messages, /{version}/{page_id}/messages   send (Page token: Bearer or ?access_token=)
    GET  /{version}/me                            the page of the token ({"name", "id"})
    GET  /{version}/{psid}                        user profile ({"first_name", "last_name", "id"})
    PUT  /console/pages/{page_id|me}              {"access_token", "app_secret", "webhook_url",
                                                  "verify_token", "name"}; "me" names the page of the token
    GET  /console/pages/{page_id}                 the registration (secrets left out)
    POST /console/pages/{page_id}/verify_webhook  Meta's GET hub.challenge handshake
    PUT  /console/settings                        {"delivered_after_ms", "read_after_ms", "read_receipts"}
    POST /console/faults                          {"code": 613, "subcode": null, "count": 1}: the next sends fail so

Like the platform, a send is checked at once and refused with a Graph error: 190 (token),
100/2018001 (no such person), 551/1545041 (person unavailable), 10/2018278 (outside the 24-hour
window without an allowed message tag), 100 (a malformed message). An accepted message is
answered `{"recipient_id", "message_id"}`, lands in the handset's inbox, and is followed at the
page's webhook by a `delivery` event (its `mids` and a `watermark`) and later a `read` event
(a `watermark`), signed `X-Hub-Signature-256` with the app secret. Handsets write, tap quick
replies and postback buttons through `handset_sends`, which opens the window.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tidings.channels.messenger.graph import (
    MESSAGE_TAGS,
    SIGNATURE_HEADER,
    SIGNATURE_HEADER_SHA1,
    STANDARD_WINDOW_MS,
    ErrorCode,
    Subcode,
    error_body,
    sign,
    sign_sha1,
)
from tidings.sandbox.handsets import Handset
from tidings.sandbox.platforms.common import (
    MAX_REMEMBERED,
    PlatformTwin,
    app_message,
    hub_challenge,
    json_object,
    json_response,
    kept_list,
    pairs,
    remember,
    revived,
)
from tidings.sandbox.platforms.messenger_payloads import (
    MessengerError,
    Option,
    check_envelope,
    render,
)
from tidings.sandbox.state_file import member

if TYPE_CHECKING:
    from tidings.sandbox.world import Sandbox

__all__ = ["MessengerTwin", "Page", "create_twin"]

def _mid() -> str:
    return "m_" + base64.urlsafe_b64encode(os.urandom(48)).decode().rstrip("=")


def page_id_for_token(token: str) -> str:
    """The id of the page a console registration by token ("me") creates: stable per token."""
    return "1" + str(int(hashlib.sha256(token.encode()).hexdigest()[:13], 16)).rjust(15, "0")[:15]


@dataclass
class Page:
    page_id: str
    access_token: str
    app_secret: str = ""
    webhook_url: str | None = None
    verify_token: str | None = None
    name: str = "Sandbox Page"


@dataclass
class Sent:
    mid: str
    page_id: str
    handset: str
    options: list[Option] = field(default_factory=list)


class MessengerTwin(PlatformTwin):
    channel = "MESSENGER"
    name = "messenger"
    settings = ("delivered_after_ms", "read_after_ms", "read_receipts")

    def __init__(self, sandbox: Sandbox, *, clock: Callable[[], int] | None = None,
                 delivered_after_ms: int = 20, read_after_ms: int = 80, read_receipts: bool = True) -> None:
        super().__init__(sandbox, clock)
        self.delivered_after_ms = delivered_after_ms
        self.read_after_ms = read_after_ms
        self.read_receipts = read_receipts
        self.pages: dict[str, Page] = {}
        self.windows: dict[tuple[str, str], int] = {}  # (page id, handset number) -> last message ms
        self.faults: deque[tuple[int, int | None]] = deque()
        self.requests: list[dict[str, Any]] = []  # accepted Send API bodies, newest last (bounded)
        self._sent: OrderedDict[str, Sent] = OrderedDict()

    # -- configuration (the console) ---------------------------------------------------------------

    def register(self, page_id: str, *, access_token: str, app_secret: str = "", webhook_url: str | None = None,
                 verify_token: str | None = None, name: str | None = None) -> Page:
        if page_id == "me":
            page_id = page_id_for_token(access_token)
        page = self.pages.get(page_id) or Page(page_id, access_token)
        page.access_token = access_token
        page.app_secret = app_secret
        page.webhook_url = webhook_url
        page.verify_token = verify_token
        if name:
            page.name = name
        self.pages[page_id] = page
        return page

    def window_open(self, page_id: str, handset_number: str, length_ms: int = STANDARD_WINDOW_MS) -> bool:
        last = self.windows.get((page_id, handset_number))
        return last is not None and self.clock() - last < length_ms

    def saved(self) -> dict[str, Any]:
        return {"pages": [dataclasses.asdict(page) for page in self.pages.values()],
                "windows": [[page, number, at] for (page, number), at in self.windows.items()],
                "sent": [dataclasses.asdict(sent) for sent in self._sent.values() if sent.options]}

    def take_back(self, document: dict[str, Any]) -> None:
        pages = [revived(Page, page) for page in member(document, "pages", list)]
        windows = {(str(page), str(number)): int(at) for page, number, at in pairs(document, "windows")}
        sent = [revived(Sent, s) for s in kept_list(document, "sent")]  # those with buttons: taps after a restart
        for message in sent:
            message.options = [revived(Option, option) for option in message.options]
        self.pages.update((page.page_id, page) for page in pages)
        self.windows.update(windows)
        for message in sent:
            remember(self._sent, message.mid, message)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/console/pages/{page_id}", self._console_page, methods=["GET", "PUT"]),
            Route("/console/pages/{page_id}/verify_webhook", self._console_verify, methods=["POST"]),
            Route("/console/settings", self._console_settings, methods=["GET", "PUT"]),
            Route("/console/faults", self._console_faults, methods=["POST"]),
            Route("/{version}/{page_id}/messages", self._messages, methods=["POST"]),
            Route("/{version}/{node}", self._node, methods=["GET"]),
        ]

    # -- the Send API ------------------------------------------------------------------------------

    async def _messages(self, request: Request) -> Response:
        try:
            return json_response(await self._send(request))
        except MessengerError as exc:
            return _error(exc)

    def _page(self, request: Request, page_id: str) -> Page:
        _check_version(request.path_params["version"])
        token = _token(request)
        by_token = next((p for p in self.pages.values() if p.access_token == token), None) if token else None
        if page_id == "me":
            if by_token is None:
                raise _auth_error()
            return by_token
        page = self.pages.get(page_id)
        if page is None:
            if by_token is None:
                raise _auth_error()
            raise MessengerError(ErrorCode.INVALID_PARAMETER, f"Unsupported post request. Object with ID "
                                 f"'{page_id}' does not exist, cannot be loaded due to missing permissions, "
                                 "or does not support this operation.", subcode=33)
        if token != page.access_token:
            raise _auth_error()
        return page

    async def _send(self, request: Request) -> dict[str, Any]:
        page = self._page(request, request.path_params["page_id"])
        if self.faults:
            code, subcode = self.faults.popleft()
            status = 500 if code in (ErrorCode.API_UNKNOWN, ErrorCode.API_SERVICE, ErrorCode.TEMPORARY_SEND_FAILURE) \
                else (401 if code == ErrorCode.ACCESS_TOKEN else 400)
            raise MessengerError(code, subcode=subcode, http_status=status)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise MessengerError(ErrorCode.INVALID_PARAMETER, "the request body is not JSON") from exc
        if not isinstance(body, dict):
            raise MessengerError(ErrorCode.INVALID_PARAMETER, "the request body must be a JSON object")
        psid, messaging_type, action = check_envelope(body)
        handset = self.sandbox.handsets.by_identity(self.channel, psid)
        if handset is None or self.channel not in handset.capabilities:
            raise MessengerError(ErrorCode.INVALID_PARAMETER, subcode=Subcode.NO_MATCHING_USER)
        if not handset.reachable:
            raise MessengerError(ErrorCode.USER_UNAVAILABLE, subcode=Subcode.USER_UNAVAILABLE)
        if action is not None:
            return {"recipient_id": psid}
        self._check_window(page, handset, messaging_type, body.get("tag"))
        rendered = render(body["message"])
        mid = _mid()
        self.requests.append(body)
        del self.requests[:-MAX_REMEMBERED]
        remember(self._sent, mid, Sent(mid, page.page_id, handset.number, rendered.options))
        self.spawn(self._deliver(page, handset, psid, mid, body, rendered.text))
        return {"recipient_id": psid, "message_id": mid}

    def _check_window(self, page: Page, handset: Handset, messaging_type: str | None, tag: Any) -> None:
        """RESPONSE and UPDATE need the 24-hour window; MESSAGE_TAG needs a conversation (and,
        for HUMAN_AGENT and CUSTOMER_FEEDBACK, a message from the person within 7 days)."""
        if messaging_type == "MESSAGE_TAG":
            limit = MESSAGE_TAGS.get(str(tag))
            if (page.page_id, handset.number) in self.windows and (
                    limit is None or self.window_open(page.page_id, handset.number, limit)):
                return
        elif self.window_open(page.page_id, handset.number):
            return
        raise MessengerError(ErrorCode.PERMISSION_DENIED, subcode=Subcode.OUTSIDE_WINDOW)

    async def _node(self, request: Request) -> Response:
        """`GET /{version}/me` (the page) and `GET /{version}/{psid}` (a user profile)."""
        try:
            node = request.path_params["node"]
            if node == "me":
                page = self._page(request, "me")
                return json_response({"name": page.name, "id": page.page_id})
            self._page(request, "me")
            handset = self.sandbox.handsets.by_identity(self.channel, node)
            if handset is None or self.channel not in handset.capabilities:
                raise MessengerError(ErrorCode.INVALID_PARAMETER, f"Unsupported get request. Object with ID "
                                     f"'{node}' does not exist", subcode=33)
            return json_response({"first_name": "Sandbox", "last_name": handset.number, "id": node})
        except MessengerError as exc:
            return _error(exc)

    # -- what happens after a send -----------------------------------------------------------------

    async def _deliver(self, page: Page, handset: Handset, psid: str, mid: str, body: dict[str, Any],
                       shown: str) -> None:
        await self.pause(self.delivered_after_ms / 1000)
        self.sandbox.handsets.receive(handset, app_message(
            sender=page.page_id, recipient=handset.number, body=shown, at_ms=self.clock(), message_id=mid,
            channel=self.channel, content={k: v for k, v in body.items() if k != "access_token"}))
        await self._webhook(page, {"sender": {"id": psid}, "recipient": {"id": page.page_id},
                                   "delivery": {"mids": [mid], "watermark": self.clock()}})
        if self.read_receipts:
            await self.pause(self.read_after_ms / 1000)
            now = self.clock()
            await self._webhook(page, {"sender": {"id": psid}, "recipient": {"id": page.page_id},
                                       "timestamp": now, "read": {"watermark": now}})

    async def _webhook(self, page: Page, event: dict[str, Any]) -> None:
        """POST one messaging event to the page's webhook, signed like Meta signs it; a few retries."""
        if not page.webhook_url:
            return
        now = self.clock()
        body = orjson.dumps({"object": "page", "entry": [{"id": page.page_id, "time": now, "messaging": [event]}]})
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(page.app_secret, body),
                   SIGNATURE_HEADER_SHA1: sign_sha1(page.app_secret, body)}
        await self.post_webhook(page.webhook_url, body, headers)

    # -- the handset side --------------------------------------------------------------------------

    def _page_for(self, to: str) -> Page:
        for page in self.pages.values():
            if to in (page.page_id, page.name):
                return page
        raise LookupError(f"no Messenger page {to!r} in the sandbox")

    async def handset_sends(self, handset: Handset, to: str, *, body: str | None, postback: str | None) -> str:
        page = self._page_for(to)
        if self.channel not in handset.capabilities:
            raise LookupError(f"{handset.number} has no Messenger")
        psid = handset.identity(self.channel)
        mid = _mid()
        now = self.clock()
        event: dict[str, Any] = {"sender": {"id": psid}, "recipient": {"id": page.page_id}, "timestamp": now}
        if postback is not None:
            option = self._find_option(page, handset, postback)
            if option.kind == "postback":
                event["postback"] = {"title": option.title, "payload": option.payload, "mid": mid}
            else:
                event["message"] = {"mid": mid, "text": option.title, "quick_reply": {"payload": option.payload}}
            shown = option.title
        else:
            event["message"] = {"mid": mid, "text": body or ""}
            shown = body or ""
        await self._inbound(page, handset, event, mid, shown)
        return mid

    async def handset_sends_attachment(self, handset: Handset, to: str, *, url: str, kind: str = "image") -> str:
        """The handset sends a picture, video, audio clip or file (`kind`) found at `url`."""
        page = self._page_for(to)
        psid = handset.identity(self.channel)
        mid = _mid()
        event = {"sender": {"id": psid}, "recipient": {"id": page.page_id}, "timestamp": self.clock(),
                 "message": {"mid": mid, "attachments": [{"type": kind, "payload": {"url": url}}]}}
        await self._inbound(page, handset, event, mid, url)
        return mid

    def _find_option(self, page: Page, handset: Handset, postback: str) -> Option:
        for sent in reversed(self._sent.values()):
            if sent.page_id != page.page_id or sent.handset != handset.number:
                continue
            for option in sent.options:
                if postback in (option.payload, option.title):
                    return option
        raise LookupError(f"no quick reply or postback button {postback!r} was sent to {handset.number}")

    async def _inbound(self, page: Page, handset: Handset, event: dict[str, Any], mid: str, shown: str) -> None:
        self.windows[(page.page_id, handset.number)] = self.clock()
        self.sandbox.handsets.record_sent(handset, app_message(
            sender=handset.number, recipient=page.page_id, body=shown, at_ms=self.clock(), message_id=mid,
            channel=self.channel, content=event))
        await self._webhook(page, event)

    # -- console -----------------------------------------------------------------------------------

    async def _console_page(self, request: Request) -> Response:
        page_id = request.path_params["page_id"]
        if request.method == "GET":
            page = self.pages.get(page_id)
            if page is None:
                return json_response({"error": {"message": f"unknown page {page_id}"}}, 404)
            return json_response(_pagejson_response(page))
        body = await json_object(request)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            return _error(MessengerError(ErrorCode.INVALID_PARAMETER, "access_token is required"))
        page = self.register(page_id, access_token=token, app_secret=str(body.get("app_secret") or ""),
                             webhook_url=body.get("webhook_url") or None,
                             verify_token=body.get("verify_token") or None, name=body.get("name") or None)
        return json_response(_pagejson_response(page))

    async def _console_verify(self, request: Request) -> Response:
        page = self.pages.get(request.path_params["page_id"])
        if page is None or not page.webhook_url:
            return _error(MessengerError(ErrorCode.INVALID_PARAMETER, "no webhook URL is registered"))
        failure = await hub_challenge(self.http(), page.webhook_url, page.verify_token)
        if failure is not None:
            return _error(MessengerError(2200, failure))
        return json_response({"success": True})

    async def _console_faults(self, request: Request) -> Response:
        body = await json_object(request)
        code, subcode, count = body.get("code"), body.get("subcode"), body.get("count", 1)
        if not isinstance(code, int) or not isinstance(count, int) or count < 0 \
                or not (subcode is None or isinstance(subcode, int)):
            return _error(MessengerError(ErrorCode.INVALID_PARAMETER, "code (int), subcode (int) and count (int)"))
        self.faults.extend([(code, subcode)] * count)
        return json_response({"pending": [list(f) for f in self.faults]})


def _pagejson_response(page: Page) -> dict[str, Any]:
    return {"id": page.page_id, "name": page.name, "webhook_url": page.webhook_url,
            "verify_token_set": bool(page.verify_token), "app_secret_set": bool(page.app_secret)}


def _check_version(version: str) -> None:
    major, _, minor = version.removeprefix("v").partition(".")
    if not version.startswith("v") or not major.isdigit() or not (minor == "" or minor.isdigit()):
        raise MessengerError(ErrorCode.INVALID_PARAMETER, "Unknown path components")


def _token(request: Request) -> str:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.query_params.get("access_token", "")


def _auth_error() -> MessengerError:
    return MessengerError(ErrorCode.ACCESS_TOKEN, http_status=401)


def _error(exc: MessengerError) -> Response:
    return json_response(error_body(exc.code, exc.subcode, message=exc.message), exc.http_status)


def create_twin(sandbox: Sandbox, *, clock: Callable[[], int] | None = None) -> MessengerTwin:
    return MessengerTwin(sandbox, clock=clock)
