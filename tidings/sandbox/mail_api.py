"""The sandbox mail REST routes (mounted under /sandbox/v1 with the rest of the sandbox API).

    GET    /mailboxes/{address}/messages   what arrived, oldest first, with DKIM/SPF/DMARC verdicts
    DELETE /mailboxes/{address}/messages   empty the mailbox
    POST   /mailboxes/{address}/messages   the owner writes: {"to", "subject", "body",
                                           "in_reply_to"?, "html"?} -> 202 {"message_id"}
    PUT    /mailboxes/{address}            {"exists": false} makes mail to it bounce
    GET    /dns/{name}                     the TXT, MX and A records of a name
    PUT    /dns/{name}                     publish records: {"txt": [...], "mx": [{"preference",
                                           "host", "port"}], "a": [...]} (each optional)

Errors: `{"error": {"code", "message"}}` like the rest of the sandbox API.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import aiosmtplib
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tidings.sandbox.mail_dns import MxHost

if TYPE_CHECKING:
    from tidings.sandbox.mail import MailServer, StoredMail

__all__ = ["build_mail_routes", "mail_json"]

_MAX_BODY_CHARS = 100_000


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _error(status: int, code: str, message: str) -> Response:
    return _json({"error": {"code": code, "message": message}}, status)


def _iso(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def mail_json(mail: StoredMail) -> dict[str, Any]:
    return {
        "raw": mail.raw.decode("utf-8", "replace"),
        "mail_from": mail.mail_from,
        "from": mail.sender,
        "to": mail.to,
        "rcpt": mail.rcpt,
        "subject": mail.subject,
        "text": mail.text,
        "html": mail.html,
        "message_id": mail.message_id,
        "in_reply_to": mail.in_reply_to,
        "dkim": mail.dkim,
        "dkim_domain": mail.dkim_domain,
        "spf": mail.spf,
        "dmarc_aligned": mail.dmarc_aligned,
        "received_at": _iso(mail.received_at_ms),
    }


async def _body(request: Request) -> dict[str, Any] | None:
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _address(request: Request) -> str | None:
    address = unquote(str(request.path_params["address"])).strip().lower()
    local, at, domain = address.rpartition("@")
    return address if at and local and "." in domain else None


def build_mail_routes(server: MailServer) -> list[BaseRoute]:
    async def list_messages(request: Request) -> Response:
        address = _address(request)
        if address is None:
            return _error(400, "invalid_address", "not an email address")
        return _json([mail_json(m) for m in server.messages(address)])

    async def clear_messages(request: Request) -> Response:
        address = _address(request)
        if address is None:
            return _error(400, "invalid_address", "not an email address")
        server.mailbox(address).messages.clear()
        return Response(status_code=204)

    async def write(request: Request) -> Response:
        address = _address(request)
        body = await _body(request)
        if address is None:
            return _error(400, "invalid_address", "not an email address")
        if body is None:
            return _error(400, "invalid_json", "expected a JSON object")
        to, text = body.get("to"), body.get("body")
        if not isinstance(to, str) or "@" not in to:
            return _error(400, "invalid_to", "'to' must be an email address")
        if not isinstance(text, str) or len(text) > _MAX_BODY_CHARS:
            return _error(400, "invalid_body", f"'body' must be a string of at most {_MAX_BODY_CHARS} characters")
        subject = body.get("subject") or ""
        in_reply_to = body.get("in_reply_to")
        html = body.get("html")
        if not isinstance(subject, str) or not isinstance(in_reply_to, str | None) \
                or not isinstance(html, str | None):
            return _error(400, "invalid_field", "'subject', 'in_reply_to' and 'html' must be strings")
        try:
            message_id = await server.reply(address, to=to, subject=subject, body=text,
                                            in_reply_to=in_reply_to, html=html)
        except LookupError as exc:
            return _error(422, "no_mx", str(exc))
        except aiosmtplib.SMTPResponseException as exc:
            return _error(502, "refused", f"{exc.code} {exc.message}")
        except (aiosmtplib.SMTPException, OSError) as exc:
            return _error(502, "unreachable", str(exc))
        return _json({"message_id": message_id}, 202)

    async def put_mailbox(request: Request) -> Response:
        address = _address(request)
        body = await _body(request)
        if address is None:
            return _error(400, "invalid_address", "not an email address")
        if body is None or not isinstance(body.get("exists"), bool):
            return _error(400, "invalid_exists", "expected {\"exists\": true|false}")
        server.set_exists(address, body["exists"])
        return _json({"address": address, "exists": body["exists"]})

    async def get_dns(request: Request) -> Response:
        return _json(server.dns.records(str(request.path_params["name"])))

    async def put_dns(request: Request) -> Response:
        name = str(request.path_params["name"])
        body = await _body(request)
        if body is None:
            return _error(400, "invalid_json", "expected a JSON object")
        txt, mx, a = body.get("txt"), body.get("mx"), body.get("a")
        try:
            if txt is not None and not all(isinstance(t, str) for t in txt):
                raise ValueError("'txt' must be a list of strings")
            if a is not None and not all(isinstance(x, str) for x in a):
                raise ValueError("'a' must be a list of strings")
            hosts = None if mx is None else [
                MxHost(int(m.get("preference", 10)), str(m["host"]).lower().rstrip("."), int(m.get("port", 25)))
                for m in mx
            ]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return _error(400, "invalid_records", str(exc))
        server.dns.publish(name, txt=txt, mx=hosts, a=a)
        return _json(server.dns.records(name))

    return [
        Route("/mailboxes/{address}/messages", list_messages, methods=["GET"]),
        Route("/mailboxes/{address}/messages", clear_messages, methods=["DELETE"]),
        Route("/mailboxes/{address}/messages", write, methods=["POST"]),
        Route("/mailboxes/{address}", put_mailbox, methods=["PUT"]),
        Route("/dns/{name}", get_dns, methods=["GET"]),
        Route("/dns/{name}", put_dns, methods=["PUT"]),
    ]
