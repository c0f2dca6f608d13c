"""Tidings' inbound SMTP listener: bounces (DSNs) and replies → channel events.

The MX of every sending domain points here. Recipients are the addresses the connector writes
into outgoing mail:

    bounces+<token>@<domain>      the envelope sender (VERP): DSNs → StatusEvent (FAILED, …)
    reply+<app_id>@<domain>       the Reply-To: replies → InboundEvent (threaded by In-Reply-To)
    unsubscribe+<app_id>@<domain> the List-Unsubscribe mailto: → InboundEvent "STOP"

Anything else is refused at RCPT (550 5.1.1). The platform signature check for email is DKIM:
with `inbound_dkim="require"` a reply must carry a passing signature whose d= shares the From
address's organizational domain (DMARC alignment), and a DSN a passing signature; otherwise the
DATA is refused with 550 5.7.20. Events are handed to the sink before 250 is answered; a sink
failure answers 451, so the sending MTA retries.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import Any

import dkim
from aiosmtpd.smtp import SMTP, Envelope, Session

from tidings.channels.contract import ChannelEvent, ChannelEventSink, InboundEvent
from tidings.channels.email.bounces import CHANNEL, is_dsn, parse_dsn, strip_id

__all__ = ["InboundMail", "TxtLookup", "reply_text"]

log = logging.getLogger(__name__)

TxtLookup = Callable[[str], Awaitable[str | None]]
"""Looks up the TXT record (DKIM key) at a DNS name."""

_QUOTE_HEADER = re.compile(r"^\s*(On .+ wrote:|-----\s*Original Message\s*-----)\s*$", re.IGNORECASE)
_SIG_TAGS = re.compile(rb"(?:^|;)\s*([a-z]+)\s*=\s*([^;]*)", re.IGNORECASE)
_TAGS = ("reply", "bounces", "unsubscribe")


def reply_text(text: str) -> str:
    """The new text of a reply: the quoted original (`> ` lines, "On … wrote:") cut off."""
    lines: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if _QUOTE_HEADER.match(line):
            break
        if line.startswith(">"):
            continue
        lines.append(line)
    return "\n".join(lines).strip()


def _html_to_text(html: str) -> str:
    text = re.sub(r"(?is)<(script|style).*?</\1>", "", html)
    text = re.sub(r"(?i)<br\s*/?>|</p>", "\n", text)
    return re.sub(r"<[^>]+>", "", text)


def _organizational(domain: str) -> str:
    return ".".join(domain.lower().rstrip(".").split(".")[-2:])


def _signature_tags(raw: bytes) -> tuple[str, str] | None:
    """(d, s) of the first DKIM-Signature header."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    unfolded = re.sub(rb"\r?\n[ \t]+", b" ", head)
    for line in unfolded.splitlines():
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"dkim-signature":
            tags = {k.lower(): v.strip() for k, v in _SIG_TAGS.findall(value)}
            if b"d" in tags and b"s" in tags:
                return tags[b"d"].decode("ascii", "replace"), tags[b"s"].decode("ascii", "replace")
    return None


class InboundMail:
    """The aiosmtpd handler of the inbound listener."""

    def __init__(self, *, clock: Callable[[], int], lookup: TxtLookup, require_dkim: bool,
                 sink: Callable[[], ChannelEventSink | None], hostname: str) -> None:
        self.clock = clock
        self.lookup = lookup
        self.require_dkim = require_dkim
        self.sink = sink
        self.hostname = hostname

    def protocol(self) -> SMTP:
        return SMTP(self, hostname=self.hostname, ident="Tidings ESMTP", enable_SMTPUTF8=True,
                    data_size_limit=10 * 1024 * 1024)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        del server, session, rcpt_options
        local = address.strip("<>").rpartition("@")[0].lower()
        tag, plus, value = local.partition("+")
        if not plus or tag not in _TAGS or not value:
            return f"550 5.1.1 <{address}>: no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def dkim_domain(self, raw: bytes) -> str | None:
        """The d= of a passing DKIM signature, or None."""
        tags = _signature_tags(raw)
        if tags is None:
            return None
        domain, selector = tags
        record = await self.lookup(f"{selector}._domainkey.{domain}")
        if record is None:
            return None
        encoded = record.encode("ascii", "replace")

        def verify() -> bool:
            try:
                return bool(dkim.verify(raw, dnsfunc=lambda _name, timeout=5: encoded))
            except dkim.DKIMException:
                return False

        return domain.lower() if await asyncio.to_thread(verify) else None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        del server, session
        raw = envelope.content if isinstance(envelope.content, bytes) else (envelope.original_content or b"")
        message = BytesParser(policy=policy.default).parsebytes(raw)
        signed_by = await self.dkim_domain(raw) if self.require_dkim else None
        events: list[ChannelEvent] = []
        for rcpt in envelope.rcpt_tos:
            local = rcpt.strip("<>").rpartition("@")[0]
            tag, _, value = local.partition("+")
            tag = tag.lower()
            if tag == "bounces":
                if not is_dsn(message):
                    continue  # auto-replies and the like to the envelope sender
                if self.require_dkim and signed_by is None:
                    return "550 5.7.20 No passing DKIM signature found"
                events.extend(parse_dsn(message, at_ms=self.clock(), envelope_rcpt=rcpt))
            else:
                reply = self._reply(message, value, unsubscribe=tag == "unsubscribe")
                if reply is None:
                    return "550 5.6.0 No From address"
                if self.require_dkim and (signed_by is None or _organizational(signed_by)
                                          != _organizational(reply.identity.rpartition("@")[2])):
                    return "550 5.7.20 No passing DKIM signature aligned with the From domain"
                events.append(reply)
        sink = self.sink()
        if sink is None:
            return "451 4.3.0 Not ready, try again later"
        if events:
            try:
                await sink.accept(events)
            except Exception:
                log.exception("email inbound: storing %d events failed", len(events))
                return "451 4.3.0 Temporary failure, try again later"
        return "250 2.0.0 OK"

    def _reply(self, message: EmailMessage | Message, app_id: str, *, unsubscribe: bool) -> InboundEvent | None:
        name, address = email.utils.parseaddr(str(message.get("From", "")))
        if "@" not in address:
            return None
        if unsubscribe:
            content: dict[str, Any] = {"text_message": {"text": "STOP"}}
        else:
            text, html = _parts(message)
            body = text if text is not None else _html_to_text(html or "")
            content = {"text_message": {"text": reply_text(body)}}
        return InboundEvent(
            channel=CHANNEL,
            app_id=app_id,
            identity=address.lower(),
            channel_message_id=strip_id(message.get("Message-ID")) or f"{uuid.uuid4().hex}@inbound",
            at_ms=self.clock(),
            content=content,
            display_name=name or None,
            reply_to_channel_message_id=strip_id(message.get("In-Reply-To")),
        )


def _parts(message: Message) -> tuple[str | None, str | None]:
    text = html = None
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        content = part.get_content() if isinstance(part, EmailMessage) else part.get_payload()
        if part.get_content_type() == "text/plain" and text is None:
            text = str(content)
        elif part.get_content_type() == "text/html" and html is None:
            html = str(content)
    return text, html

