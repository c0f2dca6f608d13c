"""The sandbox REST API (`/sandbox/v1`): read and configure handsets, act as one, set carrier rules.

    GET    /handsets/{number}              the handset (created on first use)
    PUT    /handsets/{number}              set reachable, line_type, capabilities, country, ported, carrier
    GET    /handsets/{number}/messages     what it received, oldest first, parts joined (binary ones:
                                           encoding BINARY, body in Base64, udh in hex)
    DELETE /handsets/{number}/messages     clear that inbox
    POST   /handsets/{number}/messages     send a message from it: {"to": "...", "body": "..."}, or binary
                                           data {"to", "binary": "<Base64>", "udh": "<hex, UDHL first>"} -> 202
    GET    /handsets/{number}/sent         what it sent
    GET    /rules                          every prefix rule
    PUT    /rules/{prefix}                 replace one rule ('default' for every other number)
    DELETE /rules/{prefix}                 remove one rule

Numbers are E.164 with or without '+' ('%2B' too). Errors: `{"error": {"code", "message"}}`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tidings.core.encoding import udh_error
from tidings.sandbox.handsets import LINE_TYPES, Handset, HandsetMessage, InvalidNumber
from tidings.sandbox.rules import Behaviour, InvalidRule

if TYPE_CHECKING:
    from tidings.sandbox.world import Sandbox

__all__ = ["build_routes", "handset_json", "message_json"]

_MAX_BODY_CHARS = 10_000
_MAX_BINARY_OCTETS = 10_000
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*")
_COUNTRY_LENGTH = 2


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _iso(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def message_json(message: HandsetMessage) -> dict[str, Any]:
    return {
        "from": message.sender,
        "to": message.recipient,
        "body": message.body,
        "encoding": message.encoding,
        "segments": message.segments,
        "received_at": _iso(message.received_at_ms),
        "flash": message.flash,
        "message_id": message.message_id,
        "channel": message.channel,
        **({"content": message.content} if message.content is not None else {}),
        **({"udh": message.udh} if message.udh is not None else {}),
    }


def handset_json(handset: Handset) -> dict[str, Any]:
    return {
        "number": handset.number,
        "country": handset.country,
        "valid": handset.valid,
        "reachable": handset.reachable,
        "line_type": handset.line_type,
        "capabilities": list(handset.capabilities),
        "identities": {c: handset.identity(c) for c in handset.capabilities},
        "ported": handset.ported,
        "carrier": handset.carrier,
    }


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return data


Endpoint = Callable[[Request], Awaitable[Response]]


def build_routes(sandbox: Sandbox) -> list[BaseRoute]:
    """The routes, relative to where they are mounted (`/sandbox/v1`)."""

    def handset(request: Request) -> Handset:
        try:
            return sandbox.handset(request.path_params["number"])
        except InvalidNumber as exc:
            raise ApiError(400, "invalid_number", str(exc)) from exc

    def endpoint(function: Endpoint) -> Endpoint:
        async def wrapped(request: Request) -> Response:
            try:
                return await function(request)
            except ApiError as exc:
                return _json({"error": {"code": exc.code, "message": exc.message}}, exc.status)

        return wrapped

    @endpoint
    async def get_handset(request: Request) -> Response:
        return _json(handset_json(handset(request)))

    @endpoint
    async def put_handset(request: Request) -> Response:
        target = handset(request)
        body = await _body(request)
        changes = _handset_changes(body)
        for name, value in changes.items():
            setattr(target, name, value)
        return _json(handset_json(target))

    @endpoint
    async def list_messages(request: Request) -> Response:
        channel = request.query_params.get("channel", "").upper()
        return _json({"messages": [message_json(m) for m in handset(request).inbox
                                   if not channel or m.channel == channel]})

    @endpoint
    async def clear_messages(request: Request) -> Response:
        sandbox.handsets.clear(handset(request).number)
        return Response(status_code=204)

    @endpoint
    async def send_message(request: Request) -> Response:
        sender = handset(request)
        body = await _body(request)
        to, text = body.get("to"), body.get("body")
        if not isinstance(to, str) or not to.strip():
            raise ApiError(400, "invalid_field", "'to' must be a non-empty string")
        channel = body.get("channel", "SMS")
        if not isinstance(channel, str):
            raise ApiError(400, "invalid_field", "'channel' must be a channel name such as \"WHATSAPP\"")
        if channel.upper() != "SMS":
            return await _send_on_platform(sandbox, sender, channel.upper(), to.strip(), body)
        if "binary" in body or "udh" in body:
            return await _send_binary(sandbox, sender, to.strip(), body)
        if not isinstance(text, str) or len(text) > _MAX_BODY_CHARS:
            raise ApiError(400, "invalid_field", f"'body' must be a string of at most {_MAX_BODY_CHARS} characters")
        try:
            message_id = await sandbox.send_mo(sender.number, to.strip(), text)
        except LookupError as exc:
            raise ApiError(409, "no_account", str(exc)) from exc
        return _json({"message_id": message_id}, 202)

    @endpoint
    async def list_sent(request: Request) -> Response:
        return _json({"messages": [message_json(m) for m in handset(request).sent]})

    @endpoint
    async def list_rules(request: Request) -> Response:
        return _json({"rules": sandbox.rules.as_json()})

    @endpoint
    async def put_rule(request: Request) -> Response:
        prefix = request.path_params["prefix"]
        body = await _body(request)
        try:
            behaviour = Behaviour.from_options(body)
            sandbox.rules.set(prefix, behaviour)
        except InvalidRule as exc:
            raise ApiError(400, "invalid_rule", str(exc)) from exc
        return _json({"prefix": prefix, **behaviour.as_json()})

    @endpoint
    async def delete_rule(request: Request) -> Response:
        try:
            removed = sandbox.rules.delete(request.path_params["prefix"])
        except InvalidRule as exc:
            raise ApiError(400, "invalid_rule", str(exc)) from exc
        if not removed:
            raise ApiError(404, "not_found", "no rule for that prefix")
        return Response(status_code=204)

    return [
        Route("/handsets/{number}", get_handset, methods=["GET"]),
        Route("/handsets/{number}", put_handset, methods=["PUT"]),
        Route("/handsets/{number}/messages", list_messages, methods=["GET"]),
        Route("/handsets/{number}/messages", clear_messages, methods=["DELETE"]),
        Route("/handsets/{number}/messages", send_message, methods=["POST"]),
        Route("/handsets/{number}/sent", list_sent, methods=["GET"]),
        Route("/rules", list_rules, methods=["GET"]),
        Route("/rules/{prefix}", put_rule, methods=["PUT"]),
        Route("/rules/{prefix}", delete_rule, methods=["DELETE"]),
    ]


async def _send_binary(sandbox: Sandbox, sender: Handset, to: str, body: dict[str, Any]) -> Response:
    """The handset sends 8-bit data: `binary` (standard Base64) and `udh` (hex, its length octet
    first; absent or "" for none), as one deliver_sm or, longer than 140 octets, concatenated."""
    if "body" in body:
        raise ApiError(400, "invalid_field", "give either 'body' (text) or 'binary' (Base64 data), not both")
    raw, header = body.get("binary"), body.get("udh", "")
    if not isinstance(raw, str):
        raise ApiError(400, "invalid_field", "'binary' must be a Base64 string")
    try:
        payload = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        payload = None
    if payload is None or base64.b64encode(payload).decode("ascii") != raw:
        raise ApiError(400, "invalid_field", "'binary' must be standard Base64 with padding")
    if len(payload) > _MAX_BINARY_OCTETS:
        raise ApiError(400, "invalid_field", f"'binary' must be at most {_MAX_BINARY_OCTETS} octets")
    if not isinstance(header, str) or not _HEX.fullmatch(header):
        raise ApiError(400, "invalid_field", "'udh' must be hex digits, two per octet, its length octet first")
    udh = bytes.fromhex(header)
    if udh and (error := udh_error(udh)) is not None:
        raise ApiError(400, "invalid_field", f"'udh' {error}")
    if not payload and not udh:
        raise ApiError(400, "invalid_field", "'binary' must not be empty without a 'udh'")
    try:
        message_id = await sandbox.send_mo_binary(sender.number, to, payload, udh)
    except LookupError as exc:
        raise ApiError(409, "no_account", str(exc)) from exc
    except ValueError as exc:
        raise ApiError(400, "invalid_field", f"cannot be sent as SMS: {exc}") from exc
    return _json({"message_id": message_id}, 202)


async def _send_on_platform(sandbox: Sandbox, sender: Handset, channel: str, to: str,
                            body: dict[str, Any]) -> Response:
    """The handset writes (`body`) or taps a suggestion (`postback`) in a messaging app."""
    twin = sandbox.platforms.get(channel)
    if twin is None:
        raise ApiError(400, "unknown_channel", f"the sandbox has no {channel} platform; it has "
                       f"{sorted(['SMS', *sandbox.platforms])}")
    text, postback = body.get("body"), body.get("postback")
    if (text is None) == (postback is None):
        raise ApiError(400, "invalid_field", "give exactly one of 'body' and 'postback'")
    if not isinstance(text if text is not None else postback, str):
        raise ApiError(400, "invalid_field", "'body' and 'postback' must be strings")
    if text is not None and len(text) > _MAX_BODY_CHARS:
        raise ApiError(400, "invalid_field", f"'body' must be at most {_MAX_BODY_CHARS} characters")
    if not sender.has(channel):
        raise ApiError(409, "not_capable", f"{sender.number} has no {channel} (see its capabilities)")
    try:
        message_id = await twin.handset_sends(sender, to, body=text, postback=postback)
    except LookupError as exc:
        raise ApiError(409, "no_recipient", str(exc)) from exc
    return _json({"message_id": message_id, "channel": channel}, 202)


def _handset_changes(body: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name, value in body.items():
        if name in ("reachable", "ported"):
            if not isinstance(value, bool):
                raise ApiError(400, "invalid_field", f"'{name}' must be true or false")
        elif name == "carrier":
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ApiError(400, "invalid_field", "'carrier' must be a network name or null")
        elif name == "line_type":
            if value not in LINE_TYPES:
                raise ApiError(400, "invalid_field", f"'line_type' must be one of {sorted(LINE_TYPES)}")
        elif name == "capabilities":
            if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
                raise ApiError(400, "invalid_field", "'capabilities' must be a list of names such as \"SMS\"")
            value = list(dict.fromkeys(item.upper() for item in value))
        elif name == "country":
            if value is not None and (not isinstance(value, str) or len(value) != _COUNTRY_LENGTH or not value.isalpha()):
                raise ApiError(400, "invalid_field", "'country' must be an ISO 3166 alpha-2 code")
            value = value.upper() if value else None
        else:
            raise ApiError(400, "invalid_field", f"unknown field {name!r}")
        changes[name] = value
    return changes
