"""The WhatsApp Cloud API's wire vocabulary, shared by the connector, its twin and the tests.

Graph error codes we act on, the error body shape
(`{"error": {"message", "type", "code", "error_subcode", "error_data", "fbtrace_id"}}`), the
webhook signature (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`) and
how an error code maps onto the connector contract: transient (retry), permanent (fall back) or
our credentials.
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
    "CUSTOMER_SERVICE_WINDOW_MS",
    "ERROR_TITLES",
    "SIGNATURE_HEADER",
    "SIGNATURE_HEADER_SHA1",
    "ErrorCode",
    "classify",
    "error_body",
    "sign",
    "sign_sha1",
    "verify_signature",
]

API_VERSION = "v21.0"
CUSTOMER_SERVICE_WINDOW_MS = 24 * 3600 * 1000


class ErrorCode:
    """Graph / Cloud API error codes (developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes)."""

    API_UNKNOWN = 1
    API_SERVICE = 2
    TOO_MANY_CALLS = 4
    PERMISSION_DENIED = 10
    INVALID_PARAMETER = 100
    ACCESS_TOKEN_EXPIRED = 190
    TEMPORARILY_BLOCKED = 368
    RATE_LIMIT_ISSUES = 80007
    RATE_LIMIT_HIT = 130429
    SOMETHING_WENT_WRONG = 131000
    ACCESS_DENIED = 131005
    MISSING_PARAMETER = 131008
    INVALID_PARAMETER_VALUE = 131009
    SERVICE_UNAVAILABLE = 131016
    RECIPIENT_IS_SENDER = 131021
    UNDELIVERABLE = 131026
    ACCOUNT_LOCKED = 131031
    RE_ENGAGEMENT = 131047
    SPAM_RATE_LIMIT = 131048
    UNSUPPORTED_TYPE = 131051
    MEDIA_DOWNLOAD = 131052
    PAIR_RATE_LIMIT = 131056
    TEMPLATE_PARAM_COUNT = 132000
    TEMPLATE_DOES_NOT_EXIST = 132001
    TEMPLATE_PAUSED = 132015
    TEMPLATE_DISABLED = 132016
    NOT_REGISTERED = 133010


ERROR_TITLES: dict[int, str] = {
    ErrorCode.TOO_MANY_CALLS: "Too many calls",
    ErrorCode.INVALID_PARAMETER: "Invalid parameter",
    ErrorCode.ACCESS_TOKEN_EXPIRED: "Invalid OAuth access token - Cannot parse access token",
    ErrorCode.RATE_LIMIT_ISSUES: "Rate limit issues",
    ErrorCode.RATE_LIMIT_HIT: "Rate limit hit",
    ErrorCode.SOMETHING_WENT_WRONG: "Something went wrong",
    ErrorCode.MISSING_PARAMETER: "Required parameter is missing",
    ErrorCode.INVALID_PARAMETER_VALUE: "Parameter value is not valid",
    ErrorCode.SERVICE_UNAVAILABLE: "Service unavailable",
    ErrorCode.UNDELIVERABLE: "Message undeliverable",
    ErrorCode.RE_ENGAGEMENT: "Re-engagement message",
    ErrorCode.UNSUPPORTED_TYPE: "Message type unsupported",
    ErrorCode.PAIR_RATE_LIMIT: "(Business Account, Consumer Account) pair rate limit hit",
    ErrorCode.TEMPLATE_PARAM_COUNT: "Number of parameters does not match the expected number of params",
    ErrorCode.TEMPLATE_DOES_NOT_EXIST: "Template name does not exist in the translation",
}

_TRANSIENT = frozenset({
    ErrorCode.API_UNKNOWN,
    ErrorCode.API_SERVICE,
    ErrorCode.TOO_MANY_CALLS,
    ErrorCode.RATE_LIMIT_ISSUES,
    ErrorCode.RATE_LIMIT_HIT,
    ErrorCode.SOMETHING_WENT_WRONG,
    ErrorCode.SERVICE_UNAVAILABLE,
    ErrorCode.SPAM_RATE_LIMIT,
    ErrorCode.PAIR_RATE_LIMIT,
})
_AUTH = frozenset({ErrorCode.ACCESS_TOKEN_EXPIRED, ErrorCode.PERMISSION_DENIED, ErrorCode.ACCESS_DENIED})



def classify(code: int | None, http_status: int) -> Outcome:
    """What a Graph error means for a send: retry later, never, or fix our credentials."""
    if code in _AUTH or (code is None and http_status in (401, 403)):
        return "auth"
    if code in _TRANSIENT or (code is None and (http_status >= 500 or http_status == 429)):
        return "transient"
    return "permanent"


def error_body(code: int, *, details: str | None = None, message: str | None = None,
               subcode: int | None = None, fbtrace_id: str = "AZsandboxTrace") -> dict[str, Any]:
    """A Graph API error response body, as the Cloud API writes it."""
    title = message or ERROR_TITLES.get(code, "Unknown error")
    error: dict[str, Any] = {
        "message": f"(#{code}) {title}" if code != ErrorCode.ACCESS_TOKEN_EXPIRED else title,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": fbtrace_id,
    }
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


