"""SMPP over TLS between our own ends: the server with a certificate made for the test, our ESME
checking it against the test's CA (or not at all, when told so); a client that does not trust
it, or speaks plain TCP to a TLS port, never binds. The connection settings and the gateway's
take TLS from the environment."""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path

import pytest

from tidings.config import Settings
from tidings.gateway.service import tls_of
from tidings.smpp import SmppServer, SubmitSm
from tidings.smpp.constants import CommandStatus
from tidings.smpp.testing import RecordingHandler
from tidings.smpp.tls import client_context, server_context

from .certs import Certs, make_certs
from .conftest import ClientFactory, ServerFactory


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return make_certs(tmp_path)


async def tls_server(make_server: ServerFactory, certs: Certs) -> SmppServer:
    return await make_server(ssl=server_context(certs.cert_file, certs.key_file))


async def test_bind_and_submit_over_tls(make_server: ServerFactory, make_client: ClientFactory, certs: Certs,
                                        handler: RecordingHandler) -> None:
    server = await tls_server(make_server, certs)
    client = make_client(server.port, ssl=client_context(certs.ca_file))
    await client.start()
    assert client.bound
    response = await client.submit(SubmitSm(source_addr="Acme", destination_addr="46701234567",
                                            short_message=b"over TLS"))
    assert response.command_status == CommandStatus.ESME_ROK
    assert handler.submitted[0].short_message == b"over TLS"
    [session] = server.sessions
    ssl_object = session._transport.get_extra_info("ssl_object")  # noqa: SLF001 - the wire, not the API
    assert ssl_object is not None and ssl_object.version() in ("TLSv1.2", "TLSv1.3")


async def test_an_untrusted_certificate_or_plain_tcp_never_binds(
    make_server: ServerFactory, make_client: ClientFactory, certs: Certs, caplog: pytest.LogCaptureFixture,
) -> None:
    server = await tls_server(make_server, certs)
    untrusting = make_client(server.port, ssl=client_context())  # the system's CAs only
    plain = make_client(server.port, connect_timeout=1.0)
    for client in (untrusting, plain):
        await client.start()  # connection failures are retried in the background, not raised
    await asyncio.sleep(0.5)
    assert not untrusting.bound and not plain.bound
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
    unchecked = make_client(server.port, ssl=client_context(verify=False))  # a test SMSC's own certificate
    await unchecked.start()
    assert unchecked.bound


def test_tls_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, certs: Certs) -> None:
    monkeypatch.setenv("TIDINGS_SMPP_CONNECTIONS", json.dumps([{
        "name": "carrier", "host": "smpp.example.net", "port": 3601, "system_id": "acme", "password": "pw",
        "tls": True, "tls_ca_file": certs.ca_file}]))
    [connection] = Settings.from_env().smpp_connections
    assert (connection.tls, connection.tls_ca_file, connection.tls_verify) == (True, certs.ca_file, True)
    assert tls_of(Settings()) is None
    monkeypatch.setenv("TIDINGS_SMPP_TLS_CERT_FILE", certs.cert_file)
    with pytest.raises(ValueError):
        tls_of(Settings.from_env())  # the key is missing
    monkeypatch.setenv("TIDINGS_SMPP_TLS_KEY_FILE", certs.key_file)
    assert isinstance(tls_of(Settings.from_env()), ssl.SSLContext)


async def test_a_connection_configured_with_tls_binds_to_a_tls_smsc(make_server: ServerFactory, certs: Certs) -> None:
    """The carrier connector as `TIDINGS_SMPP_CONNECTIONS` configures it: `tls` and the CA file."""
    from tidings.channels.sms_smpp.connector import SmppConnector
    from tidings.config import SmppConnectionSettings

    server = await tls_server(make_server, certs)
    settings = SmppConnectionSettings(name="carrier", host="127.0.0.1", port=server.port, system_id="tidings",
                                      password="secret", tls=True, tls_ca_file=certs.ca_file)
    connector = SmppConnector(settings, writer=None, clock=lambda: 0)  # type: ignore[arg-type] - no receipts here
    try:
        await connector.start()
        assert connector.ready
        [session] = server.sessions
        assert session._transport.get_extra_info("ssl_object") is not None  # noqa: SLF001
    finally:
        await connector.aclose()
    plain = SmppConnector(SmppConnectionSettings(name="x", host="127.0.0.1", port=1, system_id="s", password="p"),
                          writer=None, clock=lambda: 0)  # type: ignore[arg-type]
    assert plain.client.ssl is None
