"""The Viber REST Bot API's wire vocabulary, shared by the connector, its twin and the tests.

Calls are `POST {base}/pa/{method}` (`send_message`, `set_webhook`, `get_account_info`) with the
header `X-Viber-Auth-Token: <account token>` and a JSON body. Viber answers HTTP 200 even when it
refuses: the outcome is the body's `status` (0 is ok) and `status_message`. Callbacks to the
webhook are signed `X-Viber-Content-Signature: <hex HMAC-SHA256(account token, raw body)>`.
Reference: https://developers.viber.com/docs/api/rest-bot-api/
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from typing import Literal

__all__ = [
    "AUTH_HEADER",
    "EVENT_TYPES",
    "MAX_KEYBOARD_BUTTONS",
    "MAX_PICTURE_TEXT",
    "MAX_TEXT",
    "SIGNATURE_HEADER",
    "Outcome",
    "Status",
    "classify",
    "sign",
    "verify_signature",
]

AUTH_HEADER = "X-Viber-Auth-Token"
SIGNATURE_HEADER = "X-Viber-Content-Signature"
# The callbacks set_webhook can filter (message, subscribed and unsubscribed always come).
EVENT_TYPES = ("delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started")
MAX_TEXT = 7000
MAX_PICTURE_TEXT = 768
MAX_SENDER_NAME = 28
MAX_KEYBOARD_BUTTONS = 24
MAX_RICH_MEDIA_GROUPS = 6
RICH_MEDIA_API_VERSION = 7  # rich media, keyboards and silent buttons on every supported client


class Status(enum.IntEnum):
    """`status` of an API answer (developers.viber.com/docs/api/rest-bot-api/#error-codes)."""

    OK = 0
    INVALID_URL = 1
    INVALID_AUTH_TOKEN = 2
    BAD_DATA = 3
    MISSING_DATA = 4
    RECEIVER_NOT_REGISTERED = 5
    RECEIVER_NOT_SUBSCRIBED = 6
    PUBLIC_ACCOUNT_BLOCKED = 7
    PUBLIC_ACCOUNT_NOT_FOUND = 8
    PUBLIC_ACCOUNT_SUSPENDED = 9
    WEBHOOK_NOT_SET = 10
    RECEIVER_NO_SUITABLE_DEVICE = 11
    TOO_MANY_REQUESTS = 12
    API_VERSION_NOT_SUPPORTED = 13
    INCOMPATIBLE_WITH_VERSION = 14
    PUBLIC_ACCOUNT_NOT_AUTHORIZED = 15
    INCHAT_REPLY_MESSAGE_NOT_ALLOWED = 16
    PUBLIC_ACCOUNT_IS_NOT_INLINE = 17
    NO_PUBLIC_CHAT = 18
    CANNOT_SEND_BROADCAST = 19
    BROADCAST_NOT_ALLOWED = 20
    UNSUPPORTED_COUNTRY = 21
    PAYMENT_UNSUPPORTED = 22
    FREE_MESSAGES_EXCEEDED = 23
    NO_BALANCE = 24


STATUS_MESSAGES: dict[int, str] = {
    Status.OK: "ok",
    Status.INVALID_URL: "invalidUrl",
    Status.INVALID_AUTH_TOKEN: "invalidAuthToken",
    Status.BAD_DATA: "badData",
    Status.MISSING_DATA: "missingData",
    Status.RECEIVER_NOT_REGISTERED: "receiverNotRegistered",
    Status.RECEIVER_NOT_SUBSCRIBED: "notSubscribed",
    Status.PUBLIC_ACCOUNT_BLOCKED: "publicAccountBlocked",
    Status.PUBLIC_ACCOUNT_NOT_FOUND: "publicAccountNotFound",
    Status.PUBLIC_ACCOUNT_SUSPENDED: "publicAccountSuspended",
    Status.WEBHOOK_NOT_SET: "webhookNotSet",
    Status.RECEIVER_NO_SUITABLE_DEVICE: "receiverNoSuitableDevice",
    Status.TOO_MANY_REQUESTS: "tooManyRequests",
    Status.API_VERSION_NOT_SUPPORTED: "apiVersionNotSupported",
    Status.INCOMPATIBLE_WITH_VERSION: "incompatibleWithVersion",
}

Outcome = Literal["transient", "permanent", "auth"]

_AUTH = frozenset({Status.INVALID_AUTH_TOKEN, Status.PUBLIC_ACCOUNT_NOT_FOUND, Status.PUBLIC_ACCOUNT_SUSPENDED,
                   Status.PUBLIC_ACCOUNT_BLOCKED, Status.PUBLIC_ACCOUNT_NOT_AUTHORIZED})
# webhookNotSet: configure_app runs again and sets it; tooManyRequests: later.
_TRANSIENT = frozenset({Status.TOO_MANY_REQUESTS, Status.WEBHOOK_NOT_SET})


def classify(status: int) -> Outcome:
    """What a non-zero status means for a send: retry later, never, or fix our token."""
    if status in _AUTH:
        return "auth"
    if status in _TRANSIENT:
        return "transient"
    if status > max(Status):  # "other": Viber's general errors
        return "transient"
    return "permanent"


def sign(token: str, body: bytes) -> str:
    """The X-Viber-Content-Signature of `body`."""
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(token: str, body: bytes, header: str | None) -> bool:
    if not token or not header:
        return False
    return hmac.compare_digest(sign(token, body), header.strip().lower())
