"""Sinch's application-signed requests (Verification API, and callbacks to applications).

    string_to_sign = METHOD "\n" Content-MD5 "\n" Content-Type "\n" "x-timestamp:" ts "\n" path
    Content-MD5    = base64(md5(body)), empty when there is no body
    signature      = base64(HMAC-SHA256(base64decode(application secret), string_to_sign))
    Authorization: Application {application key}:{signature}

`path` has no query string. `check_timestamp` bounds replays: a request is accepted only within
`window_seconds` of the server's clock (either way).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "content_md5",
    "headers",
    "parse_authorization",
    "parse_timestamp",
    "signature",
    "string_to_sign",
]

DEFAULT_CONTENT_TYPE = "application/json; charset=UTF-8"


def content_md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode() if body else ""


def string_to_sign(method: str, body: bytes, content_type: str, timestamp: str, path: str) -> str:
    return "\n".join((method.upper(), content_md5(body), content_type, f"x-timestamp:{timestamp}", path))


def signature(secret_b64: str, method: str, body: bytes, content_type: str, timestamp: str, path: str) -> str:
    try:
        key = base64.b64decode(secret_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("application secret is not base64") from exc
    message = string_to_sign(method, body, content_type, timestamp, path).encode()
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def headers(key: str, secret_b64: str, method: str, body: bytes, path: str, now_ms: int,
            content_type: str = DEFAULT_CONTENT_TYPE) -> dict[str, str]:
    """Headers of a signed request (what Tidings sends to an application's callback URL)."""
    timestamp = datetime.fromtimestamp(now_ms / 1000, UTC).isoformat()
    sig = signature(secret_b64, method, body, content_type, timestamp, path)
    return {"authorization": f"Application {key}:{sig}", "x-timestamp": timestamp,
            "content-type": content_type}


def parse_authorization(value: str) -> tuple[str, str] | None:
    """(application key, signature) of an `Application key:signature` header, else None."""
    scheme, _, rest = value.partition(" ")
    key, sep, sig = rest.strip().partition(":")
    if scheme.lower() != "application" or not sep or not key or not sig:
        return None
    return key, sig


def parse_timestamp(value: str) -> int | None:
    """Epoch milliseconds of an ISO-8601 `x-timestamp` (naive means UTC), or None."""
    try:
        moment = datetime.fromisoformat(value.strip())  # 3.11 reads "Z" too
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
