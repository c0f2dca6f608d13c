"""`EmailConnector`: Conversation messages as DKIM-signed multipart email over SMTP.

Sending: the message is rendered (transcode.py) into `multipart/alternative` (text, then HTML),
given a Message-ID we generate (`<hex>@<sending domain>`, which is also the channel message
id), signed with the sending domain's DKIM key and handed to the smarthost. The sending domain
follows the purpose: engagement traffic goes out from the promotional domain (with
`List-Unsubscribe`, and RFC 8058 one-click when the app has an unsubscribe URL), everything else
from the transactional domain, so the two build separate reputations. The envelope sender is
`bounces+<hex>@<domain>` (VERP) so a DSN names the message even when it returns nothing of it.

Email has no delivery receipt: DELIVERED means the smarthost accepted the message (emitted just
after `send` returns); FAILED comes from a DSN (inbound.py) or a 5xx at hand-off.

Errors at hand-off: 5xx → PermanentDeliveryError(code), 4xx, timeouts and refused connections →
TransientDeliveryError, 530/534/535 → ChannelAuthError.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import uuid
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

import aiosmtplib
import httpx
from starlette.routing import BaseRoute

from tidings.channels.background import BackgroundTasks
from tidings.channels.contract import (
    Capability,
    ChannelEventSink,
    ChannelFeature,
    ConnectorContext,
    OutboundMessage,
    SendResult,
)
from tidings.channels.email.dkim_keys import DkimKeys, dns_records
from tidings.channels.email.inbound import InboundMail
from tidings.channels.email.settings import AppEmail, EmailSettings, traffic_of
from tidings.channels.email.transcode import render
from tidings.core.errors import ChannelAuthError, PermanentDeliveryError, TransientDeliveryError

__all__ = ["EmailConnector", "is_email_address"]

log = logging.getLogger(__name__)

_AUTH_CODES = (530, 534, 535)
SEND_TIMEOUT = 30.0


def is_email_address(identity: str) -> bool:
    local, at, domain = identity.rpartition("@")
    return bool(at and local and "." in domain and " " not in identity and len(identity) <= 254)


class EmailConnector:
    id = "email"
    channel = "EMAIL"
    features = (ChannelFeature.TEXT | ChannelFeature.MEDIA | ChannelFeature.CARD
                | ChannelFeature.CAROUSEL | ChannelFeature.CHOICE | ChannelFeature.LIST
                | ChannelFeature.LOCATION | ChannelFeature.HTML)

    def __init__(self, ctx: ConnectorContext) -> None:
        self.ctx = ctx
        self.settings = EmailSettings.from_context(ctx.base_url, ctx.options)
        self.keys = DkimKeys(self.settings.key_dir)
        self._sink: ChannelEventSink | None = None
        self._listener: asyncio.Server | None = None
        self._inbound_port: int | None = None
        self._background = BackgroundTasks("email")

    # -- the contract ------------------------------------------------------------------------------

    async def capability(self, message: OutboundMessage) -> Capability:
        if not is_email_address(message.identity):
            return Capability(False, "not an email address")
        return Capability(True)

    async def send(self, message: OutboundMessage) -> SendResult:
        if not is_email_address(message.identity):
            raise PermanentDeliveryError(f"not an email address: {message.identity!r}", 553)
        app = AppEmail.from_credentials(message.credentials, self.settings.domains)
        domain = app.domain_for(message.purpose)
        token = uuid.uuid4().hex
        message_id = f"{token}@{domain}"
        mail = self.build(message, app, domain, message_id)
        key = self.keys.key_for(domain)
        signed = await asyncio.to_thread(key.sign, mail.as_bytes())
        await self._hand_off(f"bounces+{token}@{domain}", message.identity, signed)
        if self.settings.delivered_on_handoff:
            self._background.report_delivered(self.channel, message_id, lambda: self._sink, self.ctx.clock)
        return SendResult(channel_message_id=message_id,
                          details={"domain": domain, "traffic": traffic_of(message.purpose)})

    def build(self, message: OutboundMessage, app: AppEmail, domain: str, message_id: str) -> EmailMessage:
        """The unsigned email for `message` (multipart/alternative: text, then HTML)."""
        reply_to = f"reply+{message.app_id}@{domain}"
        rendered = render(message.content, reply_to=reply_to, metadata=message.metadata)
        mail = EmailMessage(policy=policy.SMTP)
        mail["From"] = Address(app.from_name or "", addr_spec=f"{app.from_local_part}@{domain}")
        mail["To"] = (Address(message.contact_name, addr_spec=message.identity)
                      if message.contact_name else message.identity)
        mail["Reply-To"] = reply_to
        mail["Subject"] = rendered.subject
        mail["Date"] = email.utils.formatdate(self.ctx.clock() / 1000, localtime=False)
        mail["Message-ID"] = f"<{message_id}>"
        if message.contact_language:
            mail["Content-Language"] = message.contact_language
        if traffic_of(message.purpose) == "promotional":
            unsubscribe = [f"<mailto:unsubscribe+{message.app_id}@{domain}?subject=unsubscribe>"]
            if app.unsubscribe_url:
                url = app.unsubscribe_url.replace("{email}", quote(message.identity, safe=""))
                unsubscribe.insert(0, f"<{url}>")
                if url.startswith("https://"):
                    mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            mail["List-Unsubscribe"] = ", ".join(unsubscribe)
            mail["Precedence"] = "bulk"
        mail.set_content(rendered.text or " ")
        mail.add_alternative(rendered.html, subtype="html")
        return mail

    async def configure_app(self, app_id: str, credentials: dict[str, Any]) -> None:
        """Publish SPF, DKIM, DMARC and MX records of the app's sending domains at the DNS
        console (the sandbox); without one the operator publishes them
        (`tidings email dns-records`)."""
        del app_id
        if self.settings.dns_console_url is None:
            return
        app = AppEmail.from_credentials(credentials, self.settings.domains)
        mx = self.settings.mx_host or self.settings.inbound_host
        for domain in sorted(set(app.domains.values())):
            records = dns_records(self.keys.key_for(domain), spf_mechanisms=self.settings.spf)
            by_name: dict[str, list[str]] = {}
            for record in records:
                by_name.setdefault(record.name, []).append(record.value)
            for name, txt in by_name.items():
                body: dict[str, Any] = {"txt": txt}
                if name == domain and self._inbound_port is not None:
                    body["mx"] = [{"preference": 10, "host": mx, "port": self._inbound_port}]
                await self._console_put(name, body)

    def inbound_routes(self, sink: ChannelEventSink) -> list[BaseRoute]:
        """Email comes in over SMTP, not HTTP: this only hands the listener its sink."""
        self._sink = sink
        return []

    def attach(self, sink: ChannelEventSink) -> None:
        self._sink = sink

    async def start(self) -> None:
        if self.settings.inbound_port is None or self._listener is not None:
            return
        handler = InboundMail(clock=self.ctx.clock, lookup=self._lookup_txt,
                              require_dkim=self.settings.inbound_dkim == "require",
                              sink=lambda: self._sink, hostname=self.settings.mx_host or "tidings.local")
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(handler.protocol, self.settings.inbound_host,
                                                  self.settings.inbound_port)
        self._inbound_port = self._listener.sockets[0].getsockname()[1]

    @property
    def inbound_port(self) -> int | None:
        return self._inbound_port

    async def aclose(self) -> None:
        await self._background.aclose()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
            await listener.wait_closed()

    # -- internals ---------------------------------------------------------------------------------

    async def _hand_off(self, sender: str, recipient: str, raw: bytes) -> None:
        s = self.settings
        try:
            errors, _ = await aiosmtplib.send(
                raw, sender=sender, recipients=[recipient], hostname=s.smtp_host, port=s.smtp_port,
                username=s.smtp_username, password=s.smtp_password, start_tls=s.starttls,
                use_tls=False, timeout=SEND_TIMEOUT,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0] if exc.recipients else None
            code = refused.code if refused else 550
            text = refused.message if refused else str(exc)
            raise self._mapped(code, text) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise self._mapped(exc.code, exc.message) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientDeliveryError(f"smarthost {s.smtp_host}:{s.smtp_port}: {exc}", 5.0) from exc
        if errors:
            code, text = next(iter(errors.values()))
            raise self._mapped(code, text)

    @staticmethod
    def _mapped(code: int, text: str) -> Exception:
        if code in _AUTH_CODES:
            return ChannelAuthError(f"smarthost refused our credentials: {code} {text}")
        if 500 <= code < 600:
            return PermanentDeliveryError(f"{code} {text}", code)
        return TransientDeliveryError(f"{code} {text}", 5.0)

    async def _console_put(self, name: str, body: dict[str, Any]) -> None:
        url = f"{self.settings.dns_console_url}/{quote(name, safe='')}"
        try:
            response = await self.ctx.http.put(url, json=body)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise TransientDeliveryError(f"publishing DNS records for {name}: {exc}") from exc

    async def _lookup_txt(self, name: str) -> str | None:
        if self.settings.dns_console_url is not None:
            url = f"{self.settings.dns_console_url}/{quote(name, safe='')}"
            try:
                response = await self.ctx.http.get(url)
                response.raise_for_status()
            except httpx.HTTPError:
                return None
            records = [t for t in response.json().get("txt", []) if "p=" in t]
            return records[0] if records else None
        return await asyncio.to_thread(_real_dns_txt, name)


def _real_dns_txt(name: str) -> str | None:
    import dkim.dnsplug

    record = dkim.dnsplug.get_txt(name.encode("ascii") + b".")
    return record.decode("ascii", "replace") if record else None
