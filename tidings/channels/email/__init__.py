"""Email over SMTP with DKIM: the EMAIL channel (a Tidings extension to the Conversation API).

    connector   EmailConnector: render, sign, hand off to the smarthost; the inbound listener
    transcode   AppMessage → subject, text and HTML
    dkim_keys   per-domain DKIM keys and the DNS records to publish
    inbound     the SMTP listener for DSNs and replies
    bounces     DSN (RFC 3464) parsing
    settings    connector options and app credentials

See docs/channels/email.md.
"""

from __future__ import annotations

from tidings.channels.contract import ConnectorContext
from tidings.channels.email.connector import EmailConnector

__all__ = ["EmailConnector", "create"]


def create(ctx: ConnectorContext) -> EmailConnector:
    return EmailConnector(ctx)
