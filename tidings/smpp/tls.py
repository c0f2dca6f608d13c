"""TLS for SMPP connections: the contexts both sides use.

SMPP itself has no encryption; carriers that accept connections over the internet (Sinch's SMPP
service among them, TLS 1.2 on its port 3601) wrap the TCP connection in TLS, and so can the
gateway Tidings offers its customers. Both sides ask for TLS 1.2 at least.

    client_context(ca_file=None, verify=True)   our ESME towards a carrier: the carrier's
                                                certificate checked against `ca_file` (or the
                                                system's CAs) and its host name, unless verify
                                                is off (a test SMSC with a self-signed one)
    server_context(cert_file, key_file)         the gateway's certificate chain and key (PEM)
"""

from __future__ import annotations

import ssl

__all__ = ["client_context", "server_context"]


def client_context(ca_file: str | None = None, *, verify: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context
