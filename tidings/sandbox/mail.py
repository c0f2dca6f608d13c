"""The sandbox mail server: the Internet's mail hosts as one SMTP server on 127.0.0.1.

It accepts mail for any address (every mailbox exists unless marked unknown), checks what
arrives the way a receiving MTA does — DKIM (dkimpy, keys looked up in the sandbox DNS), SPF for
the MAIL FROM domain and the connecting IP, DMARC alignment of the From domain — and stores it per
mailbox with the verdicts. Mail to an unknown mailbox is bounced: a DSN (RFC 3464) goes to the
envelope sender's MX (`unknown_mailbox="bounce"`, the default), or the RCPT is refused with 550
5.1.1 (`"reject"`). A bounce the MX does not take (Tidings' inbound listener down) is queued and
sent again, across a restart too (`mail_outbox.py`).

A mailbox owner can reply (`reply()`, or POST /sandbox/v1/mailboxes/{address}/messages): the
sandbox writes the mail, DKIM-signs it with its own key for the mailbox's domain (published in its
DNS) and delivers it over SMTP to the MX of the recipient's domain — Tidings' inbound listener,
once the email connector has published its records through the console.

Memory is bounded: a mailbox keeps its newest `max_messages` mails, and all mailboxes together the
newest `max_held` (20,000 by default); a mailbox emptied that way is forgotten unless it was marked
unknown, so a campaign to a million addresses does not keep a million mailboxes.

    server = create_mail_server(sandbox)      # or MailServer(...)
    await server.start(); server.port          # SMTP on 127.0.0.1:<port>
    server.routes()                            # relative to /sandbox/v1 (see mail_api.py)
    server.dns                                 # MailDns: TXT/MX records (mail_dns.py)
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import TYPE_CHECKING, Any, Literal

import aiosmtplib
import dkim
from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.routing import BaseRoute

from tidings.channels.email.dkim_keys import DkimKeys
from tidings.sandbox.held import HeldItems
from tidings.sandbox.mail_dns import MailDns, MxHost, check_spf, dmarc_aligned
from tidings.sandbox.mail_dsn import build_dsn
from tidings.sandbox.mail_outbox import MailRetrier, OwedMail
from tidings.tasks import cancel_and_wait

if TYPE_CHECKING:
    from tidings.sandbox.world import Sandbox

__all__ = ["MailServer", "Mailbox", "StoredMail", "create_mail_server", "dkim_verdict", "smtp_send"]

log = logging.getLogger(__name__)

DEFAULT_HOSTNAME = "mx.sandbox.test"
DEFAULT_MAX_MESSAGES = 1000
DEFAULT_MAX_HELD = 20_000
DKIM_MIN_KEY_BITS = 1024

UnknownMailbox = Literal["bounce", "reject"]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _addr(address: str) -> str:
    return address.strip().strip("<>").lower()


def _domain_of(address: str) -> str:
    return _addr(address).rpartition("@")[2]


@dataclass
class StoredMail:
    raw: bytes
    mail_from: str
    rcpt: str
    sender: str  # the From header address
    to: str
    subject: str
    text: str | None
    html: str | None
    message_id: str | None
    in_reply_to: str | None
    dkim: Literal["pass", "fail", "none"]
    dkim_domain: str | None
    spf: str
    dmarc_aligned: bool
    received_at_ms: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Mailbox:
    address: str
    exists: bool = True
    messages: list[StoredMail] = field(default_factory=list)


def parse_parts(message: EmailMessage) -> tuple[str | None, str | None]:
    """The first text/plain and text/html parts that are not attachments."""
    text = html = None
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and text is None:
            text = str(part.get_content())
        elif kind == "text/html" and html is None:
            html = str(part.get_content())
    return text, html


def dkim_verdict(raw: bytes, dns: MailDns) -> tuple[Literal["pass", "fail", "none"], str | None]:
    """Verify the first DKIM-Signature; the verdict and its d= domain."""
    head = raw.split(b"\r\n\r\n", 1)[0].lower()
    if b"\ndkim-signature:" not in b"\n" + head:
        return "none", None
    checker = dkim.DKIM(raw, minkey=DKIM_MIN_KEY_BITS)
    try:
        ok = checker.verify(dnsfunc=dns.dkim_txt)
    except dkim.DKIMException:
        ok = False
    domain = checker.domain.decode("ascii", "replace").lower() if checker.domain else None
    return ("pass" if ok else "fail"), domain


class MailServer:
    """An SMTP server (aiosmtpd) with mailboxes, a DNS registry and outbound delivery."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], int] = _now_ms,
        hostname: str = DEFAULT_HOSTNAME,
        unknown_mailbox: UnknownMailbox = "bounce",
        max_messages: int = DEFAULT_MAX_MESSAGES,
        max_held: int = DEFAULT_MAX_HELD,
        dns: MailDns | None = None,
    ) -> None:
        self.host = host
        self._port = port
        self.clock = clock
        self.hostname = hostname
        self.unknown_mailbox = unknown_mailbox
        self.max_messages = max_messages
        self._held: HeldItems[Mailbox, StoredMail] = HeldItems(max_held)
        self.dns = dns or MailDns()
        self.keys = DkimKeys(None)
        self.mailboxes: dict[str, Mailbox] = {}
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.bounces_sent: deque[bytes] = deque(maxlen=max_messages)  # newest last
        self.outbox = MailRetrier("mail", self._send_owed, clock)  # bounces not taken yet (mail_outbox.py)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname=self.hostname, ident="Sandbox ESMTP", enable_SMTPUTF8=True,
                         data_size_limit=25 * 1024 * 1024),
            self.host, self._port,
        )
        self._port = self._server.sockets[0].getsockname()[1]
        self.publish_own_domain(self.hostname)
        self.outbox.start()

    async def stop(self) -> None:
        """Stop; a bounce on its way is owed (`outbox`), for the sandbox to save."""
        server, self._server = self._server, None
        with contextlib.suppress(Exception):  # a bounce cut short is owed (`_bounce`)
            await cancel_and_wait(list(self._tasks))
        await self.outbox.stop()
        if server is not None:
            server.close()
            await server.wait_closed()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("mail server not started")
        return self._port

    def routes(self) -> list[BaseRoute]:
        """The mailbox and DNS console routes, relative to /sandbox/v1."""
        from tidings.sandbox.mail_api import build_mail_routes

        return build_mail_routes(self)

    # -- mailboxes ---------------------------------------------------------------------------------

    def mailbox(self, address: str) -> Mailbox:
        key = _addr(address)
        box = self.mailboxes.get(key)
        if box is None:
            box = self.mailboxes[key] = Mailbox(key)
        return box

    def set_exists(self, address: str, exists: bool) -> None:
        """Mark a mailbox unknown (mail to it bounces) or known again."""
        self.mailbox(address).exists = exists

    def messages(self, address: str) -> list[StoredMail]:
        box = self.mailboxes.get(_addr(address))
        return list(box.messages) if box else []

    async def wait_for(self, address: str, count: int, timeout: float = 5.0) -> list[StoredMail]:
        async with asyncio.timeout(timeout):
            while len(self.messages(address)) < count:
                await self._changed.wait()
        return self.messages(address)

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def publish_own_domain(self, domain: str) -> None:
        """Publish DKIM and SPF for a domain the sandbox sends from (mailbox domains, its own
        hostname) so that receivers can check its mail."""
        key = self.keys.key_for(domain)
        if key.txt_value not in self.dns.txt(key.txt_name):
            self.dns.publish(key.txt_name, txt=[key.txt_value])
        if not any(r.startswith("v=spf1") for r in self.dns.txt(domain)):
            self.dns.publish(domain, txt=[*self.dns.txt(domain), "v=spf1 ip4:127.0.0.1 -all"])

    # -- aiosmtpd handler hooks --------------------------------------------------------------------

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        del server, session, rcpt_options
        box = self.mailboxes.get(_addr(address))
        if box is not None and not box.exists and self.unknown_mailbox == "reject":
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        del server
        raw = envelope.original_content or b""
        if isinstance(envelope.content, bytes):
            raw = envelope.content
        peer_ip = str(session.peer[0]) if isinstance(session.peer, tuple) else "127.0.0.1"
        mail_from = _addr(envelope.mail_from or "")
        dkim_result, dkim_domain = await asyncio.to_thread(dkim_verdict, raw, self.dns)
        spf_domain = _domain_of(mail_from) if mail_from else (session.host_name or "")
        spf = check_spf(self.dns, peer_ip, spf_domain) if spf_domain else "none"
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        from_header = email.utils.parseaddr(str(message.get("From", "")))[1].lower()
        aligned = dmarc_aligned(
            _domain_of(from_header) if from_header else "",
            dkim_domain=dkim_domain, dkim_pass=dkim_result == "pass",
            spf_domain=spf_domain, spf_pass=spf == "pass",
        ) if from_header else False
        text, html = parse_parts(message)
        now = self.clock()
        for rcpt in envelope.rcpt_tos:
            box = self.mailbox(rcpt)
            if not box.exists:
                if mail_from:
                    self._spawn(self._bounce(raw, rcpt, mail_from))
                continue
            self._store(box, StoredMail(
                raw=raw, mail_from=mail_from, rcpt=_addr(rcpt), sender=from_header,
                to=str(message.get("To", "")), subject=str(message.get("Subject", "")),
                text=text, html=html, message_id=_strip_id(message.get("Message-ID")),
                in_reply_to=_strip_id(message.get("In-Reply-To")), dkim=dkim_result,
                dkim_domain=dkim_domain, spf=spf, dmarc_aligned=aligned, received_at_ms=now,
                headers={k: str(v) for k, v in message.items()},
            ))
        self._notify()
        return "250 2.0.0 OK: queued"

    def _store(self, box: Mailbox, mail: StoredMail) -> None:
        box.messages.append(mail)
        del box.messages[: -self.max_messages]
        for owner in self._held.add(box, box.messages, mail):
            if not owner.messages and owner.exists and self.mailboxes.get(owner.address) is owner:
                del self.mailboxes[owner.address]

    # -- sending out -------------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _bounce(self, original: bytes, rcpt: str, mail_from: str) -> None:
        dsn = build_dsn(original, reporting_mta=self.hostname, recipient=_addr(rcpt), to=mail_from,
                        message_id=f"{uuid.uuid4().hex}@{self.hostname}")
        signed = self.keys.key_for(self.hostname).sign(dsn)
        self.bounces_sent.append(signed)
        owed = OwedMail(sender="", recipient=mail_from, raw=signed, first_ms=self.clock())
        try:
            failure = await self._send_owed(owed)
        except asyncio.CancelledError:  # stopped on the way: owed, saved with the sandbox's state
            self.outbox.add(owed)
            raise
        if failure is not None:
            log.info("sandbox mail: bounce to %s not taken (%s); queued, tried again later", mail_from, failure)
            self.outbox.add(owed)

    async def _send_owed(self, mail: OwedMail) -> str | None:
        """One try: None when done with it (taken, or refused for good: a bounce is not bounced),
        else what went wrong."""
        try:
            await self.deliver(sender=mail.sender, recipient=mail.recipient, raw=mail.raw)
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                log.warning("sandbox mail: %s refused mail to %s for good (%s %s); dropped",
                            mail.destination, mail.recipient, exc.code, exc.message)
                return None
            return f"{exc.code} {exc.message}"
        except (LookupError, aiosmtplib.SMTPException, OSError) as exc:
            return repr(exc)
        return None

    async def deliver(self, *, sender: str, recipient: str, raw: bytes) -> None:
        """SMTP `raw` to the MX of `recipient`'s domain (LookupError when it has none)."""
        hosts = self.dns.mx(_domain_of(recipient))
        if not hosts:
            raise LookupError(f"no MX record for {_domain_of(recipient)}")
        last: Exception | None = None
        for mx in hosts:
            try:
                await smtp_send(raw, sender=sender, recipient=recipient, host=_a(mx), port=mx.port,
                                local_hostname=self.hostname)
                return
            except aiosmtplib.SMTPResponseException as exc:
                if 500 <= exc.code < 600:
                    raise
                last = exc
            except (aiosmtplib.SMTPException, OSError) as exc:
                last = exc
        assert last is not None
        raise last

    async def reply(self, address: str, *, to: str, subject: str, body: str,
                    in_reply_to: str | None = None, html: str | None = None) -> str:
        """The owner of mailbox `address` writes to `to`; returns the new Message-ID (without
        angle brackets). Raises LookupError (no MX) or aiosmtplib errors (refused)."""
        sender = _addr(address)
        domain = _domain_of(sender)
        self.publish_own_domain(domain)
        message_id = f"{uuid.uuid4().hex}@{domain}"
        mail = EmailMessage(policy=policy.SMTP)
        mail["From"] = sender
        mail["To"] = to
        mail["Subject"] = subject
        mail["Date"] = email.utils.formatdate(self.clock() / 1000, localtime=False)
        mail["Message-ID"] = f"<{message_id}>"
        if in_reply_to:
            ref = f"<{_strip_id(in_reply_to)}>"
            mail["In-Reply-To"] = ref
            mail["References"] = ref
        mail.set_content(body)
        if html:
            mail.add_alternative(html, subtype="html")
        signed = self.keys.key_for(domain).sign(mail.as_bytes())
        await self.deliver(sender=sender, recipient=to, raw=signed)
        return message_id


async def smtp_send(raw: bytes, *, sender: str, recipient: str, host: str, port: int,
                    local_hostname: str | None = None, timeout: float = 10) -> None:
    """One SMTP transaction; `sender` "" is the null reverse-path (`MAIL FROM:<>`) of a DSN."""
    async with aiosmtplib.SMTP(hostname=host, port=port, local_hostname=local_hostname,
                               start_tls=False, use_tls=False, timeout=timeout) as client:
        await client.sendmail(sender, [recipient], raw)


def _a(mx: MxHost) -> str:
    return "127.0.0.1" if mx.host in ("localhost",) else mx.host


def _strip_id(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text[1:-1].strip() if text.startswith("<") and text.endswith(">") else text or None


def create_mail_server(sandbox: Sandbox | None = None, *, host: str = "127.0.0.1", port: int = 0,
                       clock: Callable[[], int] | None = None, hostname: str = DEFAULT_HOSTNAME,
                       unknown_mailbox: UnknownMailbox = "bounce",
                       max_messages: int = DEFAULT_MAX_MESSAGES, max_held: int = DEFAULT_MAX_HELD) -> MailServer:
    """The sandbox mail server for `sandbox` (its clock); start() it, then serve routes()
    under /sandbox/v1."""
    if clock is None:
        clock = sandbox.clock if sandbox is not None else _now_ms
    return MailServer(host=host, port=port, clock=clock, hostname=hostname,
                      unknown_mailbox=unknown_mailbox, max_messages=max_messages, max_held=max_held)
