"""The error tree. Every layer maps what it catches from below into one of these.

    TidingsError
    ├── RequestError(code, http_status, text, fields)   a caller's mistake; rendered per API surface
    │   ├── AuthError                                    401 (missing, bad or expired credentials)
    │   └── NotFound                                     404 (includes another project's objects)
    └── DeliveryError                                    a channel could not deliver
        ├── TransientDeliveryError(retry_after)          try again later (throttled, disconnected)
        ├── PermanentDeliveryError(code)                 will never succeed; the recipient fails
        └── ChannelAuthError                             our credentials at the provider are wrong
"""

from __future__ import annotations

from tidings.core.statuses import Code


class TidingsError(Exception):
    pass


class RequestError(TidingsError):
    def __init__(
        self, code: str, text: str, http_status: int = 400, fields: dict[str, str] | None = None
    ) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.http_status = http_status
        self.fields = fields or {}


class AuthError(RequestError):
    def __init__(self, text: str = "Unauthorized", expired: bool = False) -> None:
        super().__init__("unauthorized", text, 401)
        self.expired = expired


class NotFound(RequestError):
    def __init__(self, text: str = "Not found") -> None:
        super().__init__("not_found", text, 404)


class DeliveryError(TidingsError):
    pass


class TransientDeliveryError(DeliveryError):
    def __init__(self, text: str, retry_after: float = 1.0) -> None:
        super().__init__(text)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    def __init__(self, text: str, code: int) -> None:
        super().__init__(text)
        self.code = code


class OutsideSendingWindow(PermanentDeliveryError):
    """The platform takes this only inside its customer service window (WhatsApp: 24 hours from
    the contact's last message), and the window is closed: Sinch's OUTSIDE_ALLOWED_SENDING_WINDOW."""


class ExpiredBeforeSending(PermanentDeliveryError):
    """The message's expire_at passed before it could go out (it waited for a route's throughput
    cap): Expired with 406, never sent, and not held against the route's delivery rate."""

    def __init__(self, text: str) -> None:
        super().__init__(text, Code.INTERNAL_EXPIRY)


class ChannelAuthError(DeliveryError):
    pass
