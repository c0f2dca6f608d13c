"""The Telegram Bot API's wire vocabulary, shared by the connector, its twin and the tests.

Every call is `POST {base}/bot{token}/{method}` with a JSON body; the answer is
`{"ok": true, "result": ...}` or `{"ok": false, "error_code": <the HTTP status>, "description":
"<Bad Request|Forbidden|Unauthorized|Too Many Requests>: ...", "parameters": {"retry_after": s}}`.
Webhooks carry no signature: the `secret_token` given to `setWebhook` comes back verbatim in the
`X-Telegram-Bot-Api-Secret-Token` header of every update (1-256 characters of A-Z a-z 0-9 _ -).
Reference: https://core.telegram.org/bots/api
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any, Literal

from tidings.core.errors import (
    ChannelAuthError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

__all__ = [
    "MAX_BUTTON_TEXT",
    "MAX_CALLBACK_DATA",
    "MAX_CAPTION",
    "MAX_MEDIA_GROUP",
    "MAX_TEXT",
    "MIN_MEDIA_GROUP",
    "SECRET_HEADER",
    "BotApiError",
    "Outcome",
    "classify",
    "derive_secret_token",
    "error_body",
    "secret_token_valid",
    "token_valid",
]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64  # bytes
MAX_BUTTON_TEXT = 64
MIN_MEDIA_GROUP, MAX_MEDIA_GROUP = 2, 10

_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_TOKEN = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{8,}$")

DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    502: "Bad Gateway",
}

Outcome = Literal["transient", "permanent", "auth"]


def token_valid(token: str) -> bool:
    """Whether `token` looks like a bot token (`<bot id>:<secret>`)."""
    return bool(_TOKEN.match(token))


def secret_token_valid(secret: str) -> bool:
    return bool(_SECRET.match(secret))


def derive_secret_token(app_id: str, credentials: dict[str, Any]) -> str:
    """The webhook secret for an app: hex(HMAC-SHA256(callback_secret, else the bot token,
    "telegram-webhook:" + app_id)) — 64 characters, within Telegram's alphabet."""
    key = credentials.get("callback_secret") or (credentials.get("telegram_credentials") or {}).get("token") or ""
    return hmac.new(str(key).encode(), f"telegram-webhook:{app_id}".encode(), hashlib.sha256).hexdigest()


def classify(error_code: int, description: str = "") -> Outcome:
    """What a failed call means for a send: retry later, never, or fix our token."""
    if error_code == 401 or (error_code == 404 and description == "Not Found"):
        return "auth"
    if error_code == 429 or error_code >= 500:
        return "transient"
    return "permanent"


def error_body(error_code: int, detail: str, *, retry_after: int | None = None,
               migrate_to_chat_id: int | None = None) -> dict[str, Any]:
    """An error answer as the Bot API writes it ("Bad Request: chat not found")."""
    prefix = DESCRIPTIONS.get(error_code, "Internal Server Error")
    body: dict[str, Any] = {"ok": False, "error_code": error_code,
                            "description": f"{prefix}: {detail}" if detail else prefix}
    parameters: dict[str, Any] = {}
    if retry_after is not None:
        parameters["retry_after"] = retry_after
    if migrate_to_chat_id is not None:
        parameters["migrate_to_chat_id"] = migrate_to_chat_id
    if parameters:
        body["parameters"] = parameters
    return body


class BotApiError(Exception):
    """A Bot API call answered `ok: false`."""

    def __init__(self, error_code: int, description: str, retry_after: float | None = None) -> None:
        super().__init__(f"Telegram {error_code} {description}")
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def mapped(self) -> Exception:
        outcome = classify(self.error_code, self.description)
        if outcome == "auth":
            return ChannelAuthError(str(self))
        if outcome == "transient":
            return TransientDeliveryError(str(self), retry_after=self.retry_after or 1.0)
        return PermanentDeliveryError(str(self), self.error_code)
