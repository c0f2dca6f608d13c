"""Delivery status notifications (RFC 3464) → `StatusEvent`s.

A DSN is a `multipart/report; report-type=delivery-status`. Each per-recipient block of its
`message/delivery-status` part says what happened (`Action: failed | delayed | delivered |
relayed | expanded`, `Status: 5.1.1`, `Diagnostic-Code: smtp; 550 ...`). The message it reports
on is found by, in order: the `Original-Message-ID` field, the `Message-ID` of the returned
message or headers (`message/rfc822`, `text/rfc822-headers`), and the VERP envelope address the
DSN was sent to (`bounces+<token>@<domain>` for Message-ID `<token>@<domain>`).
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage, Message
from email.parser import HeaderParser

from tidings.channels.contract import StatusEvent

__all__ = ["is_dsn", "parse_dsn", "strip_id"]

CHANNEL = "EMAIL"


def strip_id(value: object) -> str | None:
    """A Message-ID without its angle brackets."""
    if value is None:
        return None
    text = str(value).strip()
    if text.startswith("<") and ">" in text:
        text = text[1:text.index(">")]
    return text.strip() or None


def is_dsn(message: Message) -> bool:
    return (message.get_content_type() == "multipart/report"
            and str(message.get_param("report-type", "")).lower() == "delivery-status")


def _returned_message_id(message: Message) -> str | None:
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message) and inner.get("Message-ID"):
                return strip_id(inner["Message-ID"])
        elif kind == "text/rfc822-headers":
            content = part.get_content() if isinstance(part, EmailMessage) else part.get_payload(decode=True)
            text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
            headers = HeaderParser(policy=policy.compat32).parsestr(text, headersonly=True)
            if headers.get("Message-ID"):
                return strip_id(headers["Message-ID"])
    return None


def _verp_message_id(envelope_rcpt: str | None) -> str | None:
    if not envelope_rcpt:
        return None
    local, _, domain = envelope_rcpt.strip("<>").rpartition("@")
    tag = local.partition("+")[2]
    return f"{tag}@{domain}" if tag and domain else None


def _status_blocks(message: Message) -> list[Message]:
    for part in message.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            if isinstance(payload, list):
                return [b for b in payload if isinstance(b, Message)]
    return []


def parse_dsn(message: Message, *, at_ms: int, envelope_rcpt: str | None = None) -> list[StatusEvent]:
    """The status events a DSN reports (none for `delayed`, or when no message id is found)."""
    blocks = _status_blocks(message)
    if not blocks:
        return []
    per_message, recipients = blocks[0], blocks[1:]
    message_id = (strip_id(per_message.get("Original-Message-ID"))
                  or _returned_message_id(message) or _verp_message_id(envelope_rcpt))
    if message_id is None:
        return []
    events = []
    for block in recipients:
        action = str(block.get("Action", "")).strip().lower()
        status = str(block.get("Status", "")).strip()
        diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
        if action == "failed":
            reason = " ".join(x for x in (status, diagnostic) if x) or "failed"
            events.append(StatusEvent(CHANNEL, message_id, "FAILED", at_ms, reason))
        elif action in ("delivered", "relayed", "expanded"):
            events.append(StatusEvent(CHANNEL, message_id, "DELIVERED", at_ms))
    return events
