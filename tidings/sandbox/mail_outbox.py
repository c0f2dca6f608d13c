"""Mail the sandbox mail server still owes another host: a bounce (DSN) whose MX did not take it.

A real MTA keeps such mail queued and tries again for days (RFC 5321 §4.5.4.1); dropping it would
leave Tidings believing a mail to an unknown mailbox was delivered, and the address would never be
suppressed. An owed mail is queued per recipient domain and sent again with the domain's
backoff, for 24 hours (`retry_queue.py`); a permanent refusal (5xx) ends it, as a bounce is never
bounced. What is owed at a stop is saved with the sandbox's state and sent after the next start.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from tidings.sandbox.retry_queue import RetryQueue
from tidings.sandbox.state_file import UnreadableState, member

__all__ = ["MailRetrier", "OwedMail"]


@dataclass(eq=False)  # compared by identity
class OwedMail:
    """One SMTP transaction not taken yet: `sender` "" is a DSN's null reverse-path."""

    sender: str
    recipient: str
    raw: bytes
    first_ms: int
    attempts: int = 0

    @property
    def destination(self) -> str:
        return self.recipient.rpartition("@")[2].lower()

    def to_json(self) -> dict[str, Any]:
        return {"sender": self.sender, "recipient": self.recipient, "raw": base64.b64encode(self.raw).decode(),
                "first_ms": self.first_ms, "attempts": self.attempts}

    @classmethod
    def from_json(cls, document: Any) -> OwedMail:
        try:
            raw = base64.b64decode(member(document, "raw", str), validate=True)
        except ValueError as exc:
            raise UnreadableState(f"raw is not base64: {exc}") from exc
        return cls(sender=member(document, "sender", str), recipient=member(document, "recipient", str), raw=raw,
                   first_ms=member(document, "first_ms", int), attempts=member(document, "attempts", int))


class MailRetrier(RetryQueue[OwedMail]):
    """The mail server's owed mail; its `send` tries one SMTP transaction (see `RetryQueue`)."""
