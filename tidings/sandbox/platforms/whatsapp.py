"""A WhatsApp Cloud API twin: the Graph API subset Tidings' WhatsApp connector uses, backed by
sandbox handsets with the WHATSAPP capability.

Served under `/sandbox/platforms/whatsapp/`:

    POST /{version}/{phone_number_id}/messages    send (Bearer token of that phone number)
    GET  /{version}/{media_id}                    an inbound media object's URL
    PUT  /console/phone_numbers/{id}              {"access_token", "app_secret", "webhook_url",
                                                  "verify_token", "display_phone_number"}
    GET  /console/phone_numbers/{id}              the registration (secrets left out)
    POST /console/phone_numbers/{id}/verify_webhook   Meta's GET hub.challenge handshake
    GET  /console/templates                       approved templates (Graph message_templates shape)
    PUT  /console/templates/{name}/{language}     add or replace one ({"category", "components", "status"})
    DELETE /console/templates/{name}/{language}
    PUT  /console/settings                        {"delivered_after_ms", "read_after_ms", "read_receipts"}
    POST /console/faults                          {"code": 130429, "count": 1}: the next sends fail so

Like the real platform a send is answered at once (`{"messages": [{"id": "wamid…"}]}`) and what
happens next arrives at the webhook, signed `X-Hub-Signature-256` with the app secret: `sent`,
`delivered` (the handset's inbox has it) and `read`, or `failed` with 131026 (no WhatsApp on that
number) or 131047 (not a template and the 24-hour window since the handset last wrote is closed).
Handsets write and tap buttons through `handset_sends`, which opens the window. Marking a
handset's message read (`{"status": "read", "message_id": …}`, with `"typing_indicator":
{"type": "text"}` for the typing indicator) is answered `{"success": true}` and kept in
`read_marks` (the newest 10,000); a message id the number never received is refused (100). The newest 10,000
media objects handsets sent can be looked up; older ones are "does not exist", as expired media are.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tidings.channels.whatsapp.graph import (
    CUSTOMER_SERVICE_WINDOW_MS,
    ERROR_TITLES,
    SIGNATURE_HEADER,
    SIGNATURE_HEADER_SHA1,
    ErrorCode,
    error_body,
    sign,
    sign_sha1,
)
from tidings.sandbox.handsets import Handset, InvalidNumber
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
from tidings.sandbox.platforms.whatsapp_payloads import Option, Rendered, render
from tidings.sandbox.platforms.whatsapp_templates import GraphError, TemplateRegistry
from tidings.sandbox.state_file import member

if TYPE_CHECKING:
    from tidings.sandbox.world import Sandbox

__all__ = ["WhatsAppTwin", "create_twin"]

_VERSION_PREFIX = "v"
_ERROR_DOCS = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
_FAILURE_DETAILS = {
    ErrorCode.UNDELIVERABLE: "Message Undeliverable.",
    ErrorCode.RE_ENGAGEMENT: "Message failed to send because more than 24 hours have passed since the "
                             "customer last replied to this number.",
}
_PRICING = {"MARKETING": "marketing", "UTILITY": "utility", "AUTHENTICATION": "authentication"}


def _wamid() -> str:
    return "wamid." + base64.b64encode(b"\x15\x02\x00\x11\x18\x12" + os.urandom(18)).decode().rstrip("=")


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


@dataclass
class PhoneNumber:
    phone_number_id: str
    access_token: str
    app_secret: str = ""
    webhook_url: str | None = None
    verify_token: str | None = None
    display_phone_number: str = "15550000000"
    waba_id: str = "102290129340398"


@dataclass
class Sent:
    wamid: str
    phone_number_id: str
    handset: str
    options: list[Option] = field(default_factory=list)


class WhatsAppTwin(PlatformTwin):
    channel = "WHATSAPP"
    name = "whatsapp"
    settings = ("delivered_after_ms", "read_after_ms", "read_receipts")

    def __init__(self, sandbox: Sandbox, *, clock: Callable[[], int] | None = None,
                 delivered_after_ms: int = 20, read_after_ms: int = 80, read_receipts: bool = True) -> None:
        super().__init__(sandbox, clock)
        self.delivered_after_ms = delivered_after_ms
        self.read_after_ms = read_after_ms
        self.read_receipts = read_receipts
        self.numbers: dict[str, PhoneNumber] = {}
        self.templates = TemplateRegistry()
        self.windows: dict[tuple[str, str], int] = {}  # (phone_number_id, handset number) -> last inbound ms
        self.faults: deque[int] = deque()
        self._sent: OrderedDict[str, Sent] = OrderedDict()
        self._media: OrderedDict[str, tuple[str, str]] = OrderedDict()  # media id -> (url, mime type), newest kept
        self._received: OrderedDict[str, tuple[str, str]] = OrderedDict()  # inbound wamid -> (pnid, handset)
        self.read_marks: list[dict[str, Any]] = []  # handset messages marked read, typing indicators shown

    # -- configuration (the console) ---------------------------------------------------------------

    def register(self, phone_number_id: str, *, access_token: str, app_secret: str = "",
                 webhook_url: str | None = None, verify_token: str | None = None,
                 display_phone_number: str | None = None) -> PhoneNumber:
        number = self.numbers.get(phone_number_id) or PhoneNumber(phone_number_id, access_token)
        number.access_token = access_token
        number.app_secret = app_secret
        number.webhook_url = webhook_url
        number.verify_token = verify_token
        if display_phone_number:
            number.display_phone_number = _digits(display_phone_number)
        elif phone_number_id.isdigit() and phone_number_id not in self.numbers:
            number.display_phone_number = "1555" + phone_number_id[-7:].rjust(7, "0")
        self.numbers[phone_number_id] = number
        return number

    def window_open(self, phone_number_id: str, handset_number: str) -> bool:
        last = self.windows.get((phone_number_id, handset_number))
        return last is not None and self.clock() - last < CUSTOMER_SERVICE_WINDOW_MS

    def saved(self) -> dict[str, Any]:
        return {"numbers": [dataclasses.asdict(n) for n in self.numbers.values()],
                "templates": self.templates.all(),
                "windows": [[pnid, number, at] for (pnid, number), at in self.windows.items()],
                "sent": [dataclasses.asdict(sent) for sent in self._sent.values() if sent.options]}

    def take_back(self, document: dict[str, Any]) -> None:
        numbers = [revived(PhoneNumber, n) for n in member(document, "numbers", list)]
        templates = TemplateRegistry(member(document, "templates", list))
        windows = {(str(pnid), str(number)): int(at) for pnid, number, at in pairs(document, "windows")}
        sent = [revived(Sent, s) for s in kept_list(document, "sent")]  # those with buttons: taps after a restart
        for message in sent:
            message.options = [revived(Option, option) for option in message.options]
        self.numbers.update((n.phone_number_id, n) for n in numbers)
        self.templates = templates
        self.windows.update(windows)
        for message in sent:
            remember(self._sent, message.wamid, message)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/console/phone_numbers/{pnid}", self._console_number, methods=["GET", "PUT"]),
            Route("/console/phone_numbers/{pnid}/verify_webhook", self._console_verify, methods=["POST"]),
            Route("/console/templates", self._console_templates, methods=["GET"]),
            Route("/console/templates/{tname}/{language}", self._console_template, methods=["PUT", "DELETE"]),
            Route("/console/settings", self._console_settings, methods=["GET", "PUT"]),
            Route("/console/faults", self._console_faults, methods=["POST"]),
            Route("/{version}/{pnid}/messages", self._messages, methods=["POST"]),
            Route("/{version}/{media_id}", self._media_node, methods=["GET"]),
        ]

    # -- the Graph API -----------------------------------------------------------------------------

    async def _messages(self, request: Request) -> Response:
        try:
            return json_response(await self._send(request))
        except GraphError as exc:
            return _graph_error(exc)

    async def _send(self, request: Request) -> dict[str, Any]:
        _check_version(request.path_params["version"])
        number = self._authorized(request, request.path_params["pnid"])
        if self.faults:
            code = self.faults.popleft()
            status = 503 if code in (ErrorCode.SERVICE_UNAVAILABLE, ErrorCode.API_SERVICE) else (
                500 if code in (ErrorCode.SOMETHING_WENT_WRONG, ErrorCode.API_UNKNOWN) else 400)
            raise GraphError(code, ERROR_TITLES.get(code), http_status=401 if code == 190 else status)
        try:
            payload = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise GraphError(ErrorCode.INVALID_PARAMETER, "the request body is not JSON") from exc
        if not isinstance(payload, dict):
            raise GraphError(ErrorCode.INVALID_PARAMETER, "the request body must be a JSON object")
        if payload.get("messaging_product") != "whatsapp":
            raise GraphError(ErrorCode.INVALID_PARAMETER, "The parameter messaging_product is required.",
                             message="The parameter messaging_product is required.")
        if "status" in payload:
            return self._mark_read(number, payload)
        to = _digits(str(payload.get("to") or ""))
        if not to:
            raise GraphError(ErrorCode.MISSING_PARAMETER, "Parameter 'to' is required")
        if to == number.display_phone_number:
            raise GraphError(ErrorCode.RECIPIENT_IS_SENDER, "Sender and recipient phone number is the same.")
        rendered = render(payload, self.templates)
        wamid = _wamid()
        self.spawn(self._deliver(number, to, wamid, payload, rendered))
        message: dict[str, Any] = {"id": wamid}
        if payload.get("type") == "template":
            message["message_status"] = "accepted"
        return {"messaging_product": "whatsapp", "contacts": [{"input": str(payload["to"]), "wa_id": to}],
                "messages": [message]}

    def _mark_read(self, number: PhoneNumber, payload: dict[str, Any]) -> dict[str, Any]:
        """A handset's message marked read, with the typing indicator when asked for."""
        if payload["status"] != "read":
            raise GraphError(ErrorCode.INVALID_PARAMETER, "status must be read")
        message_id = payload.get("message_id")
        received = self._received.get(message_id) if isinstance(message_id, str) else None
        if received is None or received[0] != number.phone_number_id:
            raise GraphError(ErrorCode.INVALID_PARAMETER, f"message_id {message_id!r} is not a message this "
                             "number received")
        typing = payload.get("typing_indicator")
        if typing is not None and typing != {"type": "text"}:
            raise GraphError(ErrorCode.INVALID_PARAMETER, "typing_indicator.type must be text")
        self.read_marks.append({"phone_number_id": number.phone_number_id, "handset": received[1],
                                "message_id": message_id, "typing": typing is not None, "at_ms": self.clock()})
        del self.read_marks[:-MAX_REMEMBERED]
        return {"success": True}

    async def _media_node(self, request: Request) -> Response:
        try:
            _check_version(request.path_params["version"])
            token = _bearer(request)
            if not any(n.access_token == token for n in self.numbers.values()):
                raise _auth_error()
            media_id = request.path_params["media_id"]
            if media_id not in self._media:
                raise GraphError(ErrorCode.INVALID_PARAMETER, f"Unsupported get request. Object with ID '{media_id}' "
                                 "does not exist", subcode=33)
            url, mime = self._media[media_id]
            return json_response({"messaging_product": "whatsapp", "url": url, "mime_type": mime,
                          "sha256": "0" * 64, "file_size": 0, "id": media_id})
        except GraphError as exc:
            return _graph_error(exc)

    def _authorized(self, request: Request, phone_number_id: str) -> PhoneNumber:
        token = _bearer(request)
        number = self.numbers.get(phone_number_id)
        if number is None:
            if not any(n.access_token == token for n in self.numbers.values()):
                raise _auth_error()
            raise GraphError(ErrorCode.INVALID_PARAMETER, f"Unsupported post request. Object with ID "
                             f"'{phone_number_id}' does not exist, cannot be loaded due to missing permissions, "
                             "or does not support this operation.", subcode=33)
        if token != number.access_token:
            raise _auth_error()
        return number

    # -- what happens after a send -----------------------------------------------------------------

    async def _deliver(self, number: PhoneNumber, to: str, wamid: str, payload: dict[str, Any],
                       rendered: Rendered) -> None:
        handset = self._handset(to)
        failure: int | None = None
        if handset is None or not handset.has(self.channel):
            failure = ErrorCode.UNDELIVERABLE
        elif payload.get("type") != "template" and not self.window_open(number.phone_number_id, handset.number):
            failure = ErrorCode.RE_ENGAGEMENT
        await self.pause(self.delivered_after_ms / 2000)
        if failure is not None:
            await self._status(number, wamid, to, "failed", errors=[{
                "code": failure, "title": ERROR_TITLES[failure], "message": ERROR_TITLES[failure],
                "error_data": {"details": _FAILURE_DETAILS[failure]}, "href": _ERROR_DOCS}])
            return
        assert handset is not None
        category = _PRICING.get(rendered.template_category or "", "service")
        await self._status(number, wamid, to, "sent", category=category)
        remember(self._sent, wamid, Sent(wamid, number.phone_number_id, handset.number, rendered.options))
        await self.pause(self.delivered_after_ms / 2000)
        self.sandbox.handsets.receive(handset, app_message(
            sender="+" + number.display_phone_number, recipient=handset.number, body=rendered.text,
            at_ms=self.clock(), message_id=wamid, channel=self.channel, content=payload))
        await self._status(number, wamid, to, "delivered", category=category)
        if self.read_receipts:
            await self.pause(self.read_after_ms / 1000)
            await self._status(number, wamid, to, "read")

    def _handset(self, digits: str) -> Handset | None:
        try:
            return self.sandbox.handsets.by_identity(self.channel, "+" + digits)
        except InvalidNumber:
            return None

    async def _status(self, number: PhoneNumber, wamid: str, to: str, status: str, *,
                      category: str | None = None, errors: list[dict[str, Any]] | None = None) -> None:
        entry: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(self.clock() // 1000),
                                 "recipient_id": to}
        if category is not None:
            entry["conversation"] = {"id": wamid[-32:], "origin": {"type": category}}
            entry["pricing"] = {"billable": True, "pricing_model": "CBP", "category": category}
        if errors is not None:
            entry["errors"] = errors
        await self._webhook(number, {"statuses": [entry]})

    async def _webhook(self, number: PhoneNumber, value: dict[str, Any]) -> None:
        """POST one change to the number's webhook, signed like Meta signs it; a few retries."""
        if not number.webhook_url:
            return
        body = orjson.dumps({"object": "whatsapp_business_account", "entry": [{"id": number.waba_id, "changes": [{
            "value": {"messaging_product": "whatsapp", "metadata": {
                "display_phone_number": number.display_phone_number, "phone_number_id": number.phone_number_id},
                **value},
            "field": "messages"}]}]})
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(number.app_secret, body),
                   SIGNATURE_HEADER_SHA1: sign_sha1(number.app_secret, body)}
        await self.post_webhook(number.webhook_url, body, headers)

    # -- the handset side --------------------------------------------------------------------------

    def _number_for(self, to: str) -> PhoneNumber:
        digits = _digits(to)
        for number in self.numbers.values():
            if to in (number.phone_number_id, "+" + number.display_phone_number) or digits == number.display_phone_number:
                return number
        raise LookupError(f"no WhatsApp business number {to!r} in the sandbox")

    async def handset_sends(self, handset: Handset, to: str, *, body: str | None, postback: str | None) -> str:
        number = self._number_for(to)
        wamid = _wamid()
        sender = _digits(handset.number)
        message: dict[str, Any] = {"from": sender, "id": wamid, "timestamp": str(self.clock() // 1000)}
        if postback is not None:
            sent, option = self._find_option(number, handset, postback)
            message["context"] = {"from": number.display_phone_number, "id": sent.wamid}
            if option.kind == "button":
                message |= {"type": "button", "button": {"payload": option.id, "text": option.title}}
            else:
                reply = {"id": option.id, "title": option.title}
                if option.description:
                    reply["description"] = option.description
                message |= {"type": "interactive", "interactive": {"type": option.kind, option.kind: reply}}
            shown = option.title
        else:
            message |= {"type": "text", "text": {"body": body or ""}}
            shown = body or ""
        await self._inbound(number, handset, message, shown)
        return wamid

    async def handset_sends_media(self, handset: Handset, to: str, *, url: str, mime_type: str,
                                  caption: str | None = None) -> str:
        """The handset sends a picture, video, voice note or file (`GET /{version}/{media_id}` gives `url`)."""
        number = self._number_for(to)
        kind = next((k for k in ("image", "video", "audio") if mime_type.startswith(k + "/")), "document")
        media_id = str(int.from_bytes(os.urandom(7), "big"))
        remember(self._media, media_id, (url, mime_type), MAX_REMEMBERED)
        media: dict[str, Any] = {"id": media_id, "mime_type": mime_type, "sha256": "0" * 64}
        if caption:
            media["caption"] = caption
        wamid = _wamid()
        message = {"from": _digits(handset.number), "id": wamid, "timestamp": str(self.clock() // 1000),
                   "type": kind, kind: media}
        await self._inbound(number, handset, message, caption or url)
        return wamid

    def _find_option(self, number: PhoneNumber, handset: Handset, postback: str) -> tuple[Sent, Option]:
        for sent in reversed(self._sent.values()):
            if sent.phone_number_id != number.phone_number_id or sent.handset != handset.number:
                continue
            for option in sent.options:
                if postback in (option.id, option.title):
                    return sent, option
        raise LookupError(f"no button or list row {postback!r} was sent to {handset.number}")

    async def _inbound(self, number: PhoneNumber, handset: Handset, message: dict[str, Any], shown: str) -> None:
        self.windows[(number.phone_number_id, handset.number)] = self.clock()
        remember(self._received, message["id"], (number.phone_number_id, handset.number), MAX_REMEMBERED)
        self.sandbox.handsets.record_sent(handset, app_message(
            sender=handset.number, recipient="+" + number.display_phone_number, body=shown, at_ms=self.clock(),
            message_id=message["id"], channel=self.channel, content=message))
        contact = {"profile": {"name": handset.number}, "wa_id": message["from"]}
        await self._webhook(number, {"contacts": [contact], "messages": [message]})

    # -- console -----------------------------------------------------------------------------------

    async def _console_number(self, request: Request) -> Response:
        pnid = request.path_params["pnid"]
        if request.method == "GET":
            number = self.numbers.get(pnid)
            if number is None:
                return json_response({"error": {"message": f"unknown phone number id {pnid}"}}, 404)
            return json_response(_numberjson_response(number))
        body = await json_object(request)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            return _graph_error(GraphError(ErrorCode.MISSING_PARAMETER, "access_token is required"))
        number = self.register(pnid, access_token=token, app_secret=str(body.get("app_secret") or ""),
                               webhook_url=body.get("webhook_url") or None,
                               verify_token=body.get("verify_token") or None,
                               display_phone_number=body.get("display_phone_number"))
        return json_response(_numberjson_response(number))

    async def _console_verify(self, request: Request) -> Response:
        number = self.numbers.get(request.path_params["pnid"])
        if number is None or not number.webhook_url:
            return _graph_error(GraphError(ErrorCode.INVALID_PARAMETER, "no webhook URL is registered"))
        failure = await hub_challenge(self.http(), number.webhook_url, number.verify_token)
        if failure is not None:
            return _graph_error(GraphError(2200, failure))
        return json_response({"success": True})

    async def _console_templates(self, request: Request) -> Response:
        return json_response({"data": self.templates.all()})

    async def _console_template(self, request: Request) -> Response:
        name, language = request.path_params["tname"], request.path_params["language"]
        if request.method == "DELETE":
            return json_response({"success": self.templates.delete(name, language)})
        body = await json_object(request)
        try:
            return json_response(self.templates.put({**body, "name": name, "language": language}))
        except GraphError as exc:
            return _graph_error(exc)

    async def _console_faults(self, request: Request) -> Response:
        body = await json_object(request)
        code, count = body.get("code"), body.get("count", 1)
        if not isinstance(code, int) or not isinstance(count, int) or count < 0:
            return _graph_error(GraphError(ErrorCode.INVALID_PARAMETER, "code (int) and count (int) are required"))
        self.faults.extend([code] * count)
        return json_response({"pending": list(self.faults)})


def _numberjson_response(number: PhoneNumber) -> dict[str, Any]:
    return {"id": number.phone_number_id, "display_phone_number": number.display_phone_number,
            "webhook_url": number.webhook_url, "verify_token_set": bool(number.verify_token),
            "app_secret_set": bool(number.app_secret)}


def _check_version(version: str) -> None:
    major, _, minor = version.removeprefix(_VERSION_PREFIX).partition(".")
    if not version.startswith(_VERSION_PREFIX) or not major.isdigit() or not (minor == "" or minor.isdigit()):
        raise GraphError(ErrorCode.INVALID_PARAMETER, f"Unknown path components: /{version}",
                         message="Unknown path components")


def _bearer(request: Request) -> str:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else ""


def _auth_error() -> GraphError:
    return GraphError(ErrorCode.ACCESS_TOKEN_EXPIRED, http_status=401)


def _graph_error(exc: GraphError) -> Response:
    return json_response(error_body(exc.code, details=exc.details, message=exc.message, subcode=exc.subcode),
                 exc.http_status)


def create_twin(sandbox: Sandbox, *, clock: Callable[[], int] | None = None) -> WhatsAppTwin:
    return WhatsAppTwin(sandbox, clock=clock)
