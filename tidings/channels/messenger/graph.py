"""The Messenger Platform's wire vocabulary, shared by the connector, its twin and the tests.

Send API error codes we act on and the Graph error body
(`{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`), the message tags and
the windows they allow, the webhook signature (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app
secret, raw body)>`), and how an error maps onto the connector contract: transient (retry),
permanent (fall back) or our credentials.

Reference: developers.facebook.com/docs/messenger-platform/reference/send-api/error-codes.
"""

from __future__ import annotations

from typing import Any

from tidings.channels.graph_common import (
    SIGNATURE_HEADER,
    SIGNATURE_HEADER_SHA1,
    Outcome,
    sign,
    sign_sha1,
    verify_signature,
)

__all__ = [
    "API_VERSION",
    "MESSAGE_TAGS",
    "MESSAGING_TYPES",
    "SIGNATURE_HEADER",
    "SIGNATURE_HEADER_SHA1",
    "STANDARD_WINDOW_MS",
    "ErrorCode",
    "Subcode",
    "classify",
    "error_body",
    "sign",
    "sign_sha1",
    "verify_signature",
]

API_VERSION = "v21.0"
STANDARD_WINDOW_MS = 24 * 3600 * 1000
_SEVEN_DAYS_MS = 7 * 24 * 3600 * 1000

MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")
MESSAGE_TAGS: dict[str, int | None] = {
    # tag -> how long after the person's last message it may be used (None: any time)
    "ACCOUNT_UPDATE": None,
    "CONFIRMED_EVENT_UPDATE": None,
    "POST_PURCHASE_UPDATE": None,
    "HUMAN_AGENT": _SEVEN_DAYS_MS,
    "CUSTOMER_FEEDBACK": _SEVEN_DAYS_MS,
}


class ErrorCode:
    """Graph / Send API error codes."""

    API_UNKNOWN = 1
    API_SERVICE = 2
    TOO_MANY_CALLS = 4
    PERMISSION_DENIED = 10
    INVALID_PARAMETER = 100
    ACCESS_TOKEN = 190
    PERMISSION_ERROR = 200
    PAGES_MESSAGING_PERMISSION = 230
    TEMPORARILY_BLOCKED = 368
    USER_UNAVAILABLE = 551
    RATE_LIMIT = 613
    TEMPORARY_SEND_FAILURE = 1200


class Subcode:
    NO_MATCHING_USER = 2018001
    TOO_MANY_SENDS = 2018022
    OUTSIDE_WINDOW = 2018278
    OUTSIDE_WINDOW_NEWS = 2018065
    USER_UNAVAILABLE = 1545041
    INVALID_TAG = 2018276


MESSAGES: dict[tuple[int, int | None], str] = {
    (ErrorCode.API_SERVICE, None): "An unexpected error has occurred. Please retry your request later.",
    (ErrorCode.TOO_MANY_CALLS, None): "Application request limit reached",
    (ErrorCode.TOO_MANY_CALLS, Subcode.TOO_MANY_SENDS): "Too many send requests to phone numbers",
    (ErrorCode.PERMISSION_DENIED, Subcode.OUTSIDE_WINDOW):
        "This message is sent outside of allowed window. Learn more about the new policy here: "
        "https://developers.facebook.com/docs/messenger-platform/policy-overview",
    (ErrorCode.INVALID_PARAMETER, None): "Invalid parameter",
    (ErrorCode.INVALID_PARAMETER, Subcode.NO_MATCHING_USER): "No matching user found",
    (ErrorCode.ACCESS_TOKEN, None): "Invalid OAuth access token - Cannot parse access token",
    (ErrorCode.USER_UNAVAILABLE, Subcode.USER_UNAVAILABLE): "This person isn't available right now.",
    (ErrorCode.RATE_LIMIT, None): "Calls to this API have exceeded the rate limit.",
    (ErrorCode.TEMPORARY_SEND_FAILURE, None): "Temporary send message failure. Please try again later",
}

_TRANSIENT = frozenset({ErrorCode.API_UNKNOWN, ErrorCode.API_SERVICE, ErrorCode.TOO_MANY_CALLS,
                        ErrorCode.RATE_LIMIT, ErrorCode.TEMPORARY_SEND_FAILURE})
_AUTH = frozenset({ErrorCode.ACCESS_TOKEN, ErrorCode.PAGES_MESSAGING_PERMISSION})
_WINDOW = frozenset({Subcode.OUTSIDE_WINDOW, Subcode.OUTSIDE_WINDOW_NEWS})



def classify(code: int | None, subcode: int | None, http_status: int) -> Outcome:
    """What a Send API error means for a send: retry later, never, or fix our credentials.

    Code 10 is a permission error: with a window subcode it refuses this message (permanent),
    otherwise the page token lacks the permission (our credentials)."""
    if code == ErrorCode.PERMISSION_DENIED:
        return "permanent" if subcode in _WINDOW else "auth"
    if code in _AUTH or (code is None and http_status in (401, 403)):
        return "auth"
    if code in _TRANSIENT or (code is None and (http_status >= 500 or http_status == 429)):
        return "transient"
    return "permanent"


def error_body(code: int, subcode: int | None = None, *, message: str | None = None,
               fbtrace_id: str = "AZmsgrSandboxTrace") -> dict[str, Any]:
    """A Graph API error response body, as the Send API writes it."""
    text = message or MESSAGES.get((code, subcode)) or MESSAGES.get((code, None)) or "Unknown error"
    error: dict[str, Any] = {
        "message": text if code == ErrorCode.ACCESS_TOKEN else f"(#{code}) {text}",
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": fbtrace_id,
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


