"""Sinch's webhook signature scheme (SMS and Conversation callbacks), both directions.

    x-sinch-webhook-signature            base64(HMAC-SHA256(secret, "{body}.{nonce}.{timestamp}"))
    x-sinch-webhook-signature-nonce      a random string, unique per request
    x-sinch-webhook-signature-timestamp  epoch seconds, as a decimal string

The key is the secret's UTF-8 bytes and the message is the raw body followed by the nonce and the
timestamp, joined by dots. This is exactly what the official SDK checks
(`sinch.domains.authentication.sinch_events.v1.authentication_validation.
validate_sinch_event_signature_with_nonce`): it signs the body decoded with the Content-Type
charset (UTF-8 by default), so signing the UTF-8 bytes we send is the same thing. The SDK never
checks the timestamp's age; `verify` can, for callbacks Tidings receives.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping

__all__ = [
    "NONCE_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "sign",
    "signature",
    "verify",
]

SIGNATURE_HEADER = "x-sinch-webhook-signature"
NONCE_HEADER = "x-sinch-webhook-signature-nonce"
TIMESTAMP_HEADER = "x-sinch-webhook-signature-timestamp"


def signature(secret: str, body: bytes, nonce: str, timestamp: str) -> str:
    """base64(HMAC-SHA256(secret as UTF-8, body + "." + nonce + "." + timestamp))."""
    message = b".".join((body, nonce.encode(), timestamp.encode()))
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign(secret: str, body: bytes, now_ms: int, *, nonce: str | None = None) -> dict[str, str]:
    """The three signature headers for `body` sent at `now_ms` (epoch milliseconds).

    `nonce` defaults to 32 random hex digits; pass one only to make a signature reproducible.
    """
    nonce = secrets.token_hex(16) if nonce is None else nonce
    timestamp = str(now_ms // 1000)
    return {
        SIGNATURE_HEADER: signature(secret, body, nonce, timestamp),
        NONCE_HEADER: nonce,
        TIMESTAMP_HEADER: timestamp,
    }


def verify(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now_ms: int | None = None,
    max_skew_seconds: float = 300.0,
) -> bool:
    """Whether `headers` carry a valid signature of `body` made with `secret`.

    Header names are matched case-insensitively. With `now_ms`, the timestamp must also be within
    `max_skew_seconds` of it (either way), which bounds how long a captured request can be
    replayed; without it only the signature is checked, as the SDK does.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    received = lowered.get(SIGNATURE_HEADER)
    nonce = lowered.get(NONCE_HEADER)
    timestamp = lowered.get(TIMESTAMP_HEADER)
    if not received or nonce is None or timestamp is None:
        return False
    if now_ms is not None:
        try:
            sent_seconds = int(timestamp)
        except ValueError:
            return False
        if abs(now_ms / 1000 - sent_seconds) > max_skew_seconds:
            return False
    expected = signature(secret, body, nonce, timestamp)
    return hmac.compare_digest(received.encode(), expected.encode())
