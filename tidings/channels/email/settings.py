"""What the email connector is configured with: the connector options (smarthost, inbound
listener, key directory, DNS console) and each app's `email_credentials`.

Connector options (`ConnectorContext.options`; `base_url` is the smarthost, `smtp://host:port`):

    smtp_username, smtp_password   AUTH at the smarthost (both or neither)
    starttls                       upgrade with STARTTLS (default false)
    dkim_key_dir                   where per-domain DKIM keys live (default <data_dir>/dkim)
    data_dir                       default ./.tidings
    domains                        {"transactional": ..., "promotional": ...}: the default
                                   sending domains (an app's credentials override them)
    inbound_host, inbound_port     the SMTP listener for bounces and replies (port None: none;
                                   0: any free port)
    mx_host                        the host name published as MX (default: inbound_host)
    spf                            SPF mechanisms published for the sending domains
                                   (default "ip4:127.0.0.1")
    dns_console_url                where `configure_app` publishes the DNS records and where the
                                   inbound DKIM check looks keys up (the sandbox:
                                   http://127.0.0.1:<port>/sandbox/v1/dns); None: real DNS
    inbound_dkim                   "require" (default: reject mail without a passing, aligned
                                   signature) or "off"
    delivered_on_handoff           emit DELIVERED once the smarthost accepted (default true)

An app's credentials entry:

    {"channel": "EMAIL", "email_credentials": {
        "from_name": "Acme", "from_local_part": "hello",
        "domains": {"transactional": "mail.acme.test", "promotional": "news.acme.test"},
        "unsubscribe_url": "https://acme.test/unsubscribe?e={email}"}}
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tidings.channels.contract import Purpose

__all__ = ["AppEmail", "EmailSettings", "traffic_of"]

DEFAULT_DOMAINS = {"transactional": "mail.tidings.test", "promotional": "news.tidings.test"}
DEFAULT_SMTP_PORT = 25


def traffic_of(purpose: Purpose | str) -> str:
    """Engagement mail is promotional; information, security and satisfaction mail is
    transactional."""
    return "promotional" if purpose == "engagement" else "transactional"


@dataclass(frozen=True)
class EmailSettings:
    smtp_host: str
    smtp_port: int
    smtp_username: str | None
    smtp_password: str | None
    starttls: bool
    key_dir: str
    domains: dict[str, str]
    inbound_host: str
    inbound_port: int | None
    mx_host: str | None
    spf: str
    dns_console_url: str | None
    inbound_dkim: str
    delivered_on_handoff: bool

    @classmethod
    def from_context(cls, base_url: str, options: dict[str, Any]) -> EmailSettings:
        url = urlsplit(base_url if "://" in base_url else f"smtp://{base_url}")
        data_dir = str(options.get("data_dir") or "./.tidings")
        domains = dict(DEFAULT_DOMAINS)
        domains.update({k: str(v).lower() for k, v in (options.get("domains") or {}).items()})
        inbound_dkim = str(options.get("inbound_dkim", "require"))
        if inbound_dkim not in ("require", "off"):
            raise ValueError("inbound_dkim must be 'require' or 'off'")
        port = options.get("inbound_port")
        return cls(
            smtp_host=url.hostname or "127.0.0.1",
            smtp_port=url.port or DEFAULT_SMTP_PORT,
            smtp_username=options.get("smtp_username") or url.username,
            smtp_password=options.get("smtp_password") or url.password,
            starttls=bool(options.get("starttls", False)),
            key_dir=str(options.get("dkim_key_dir") or os.path.join(data_dir, "dkim")),
            domains=domains,
            inbound_host=str(options.get("inbound_host") or "127.0.0.1"),
            inbound_port=None if port is None else int(port),
            mx_host=options.get("mx_host"),
            spf=str(options.get("spf") or "ip4:127.0.0.1"),
            dns_console_url=(str(options["dns_console_url"]).rstrip("/")
                             if options.get("dns_console_url") else None),
            inbound_dkim=inbound_dkim,
            delivered_on_handoff=bool(options.get("delivered_on_handoff", True)),
        )


@dataclass(frozen=True)
class AppEmail:
    """One app's sender identity."""

    from_name: str | None
    from_local_part: str
    domains: dict[str, str]
    unsubscribe_url: str | None

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any], defaults: dict[str, str]) -> AppEmail:
        entry = credentials.get("email_credentials") or {}
        domains = dict(defaults)
        domains.update({k: str(v).lower() for k, v in (entry.get("domains") or {}).items() if v})
        return cls(
            from_name=entry.get("from_name"),
            from_local_part=str(entry.get("from_local_part") or "hello"),
            domains=domains,
            unsubscribe_url=entry.get("unsubscribe_url"),
        )

    def domain_for(self, purpose: Purpose | str) -> str:
        return self.domains[traffic_of(purpose)]
