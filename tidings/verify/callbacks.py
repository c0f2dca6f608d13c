"""Calls to the application's callback URL.

Request event (`VerificationRequestEvent`): posted synchronously before a code is sent, signed
like a Verification API request (`signing.headers`, the application's key and secret). The
application answers `{"action": "allow"|"deny", "sms": {"code": …}, "callout": {"code": …}}`;
an answer that is not a 2xx JSON object with an action, or no answer within `REQUEST_TIMEOUT`,
denies (reason "Invalid callback"), as Sinch does.

Result event (`VerificationResultEvent`): the body built by `result_event`, queued in the
webhook outbox with the status change (at least once, retried).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from tidings.verify import signing
from tidings.verify.model import Reason

__all__ = ["REQUEST_TIMEOUT", "Decision", "request_event", "result_event"]

REQUEST_TIMEOUT = 3.0


@dataclass(frozen=True)
class Decision:
    allow: bool
    reason: str | None = None
    code: str | None = None  # the application chose the code (sms, callout)


def _identity(row: Any) -> dict[str, str]:
    return {"type": row.identity_type, "endpoint": row.endpoint}


def request_body(row: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": row.id, "event": "VerificationRequestEvent", "method": row.method,
                            "identity": _identity(row), "price": {"amount": 0.0, "currencyId": "EUR"}}
    for key in ("reference", "custom"):
        if getattr(row, key) is not None:
            body[key] = getattr(row, key)
    return body


def result_event(row: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": row.id, "event": "VerificationResultEvent", "method": row.method,
                            "identity": _identity(row), "status": row.status}
    for key in ("reason", "reference", "custom", "source"):
        if getattr(row, key) is not None:
            body[key] = getattr(row, key)
    return body


async def request_event(http: httpx.AsyncClient, url: str, app_key: str, app_secret: str, row: Any,
                        now_ms: int) -> Decision:
    raw = orjson.dumps(request_body(row))
    try:
        headers = signing.headers(app_key, app_secret, "POST", raw, urlsplit(url).path or "/", now_ms)
        response = await http.post(url, content=raw, headers=headers, timeout=REQUEST_TIMEOUT)
        answer = response.json() if response.is_success else None
    except (httpx.HTTPError, httpx.InvalidURL, ValueError):  # unreachable, malformed URL or answer
        answer = None
    if not isinstance(answer, dict) or answer.get("action") not in ("allow", "deny"):
        return Decision(False, Reason.INVALID_CALLBACK)
    if answer["action"] == "deny":
        return Decision(False, Reason.DENIED_BY_CALLBACK)
    code = None
    for key in ("sms", "callout", "whatsapp", "email"):
        part = answer.get(key)
        if isinstance(part, dict) and isinstance(part.get("code"), str) and part["code"]:
            code = part["code"]
    return Decision(True, None, code)
