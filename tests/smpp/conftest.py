"""Fixtures for SMPP tests: real servers and clients on 127.0.0.1 with ephemeral ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tidings.smpp import EsmeClient, SmppServer
from tidings.smpp.testing import RecordingHandler

SYSTEM_ID = "tidings"
PASSWORD = "secret"
CREDENTIALS = {SYSTEM_ID: PASSWORD}

ServerFactory = Callable[..., Awaitable[SmppServer]]
ClientFactory = Callable[..., EsmeClient]


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler(CREDENTIALS)


@pytest.fixture
async def make_server(handler: RecordingHandler) -> AsyncIterator[ServerFactory]:
    servers: list[SmppServer] = []

    async def factory(custom_handler: object | None = None, **options: Any) -> SmppServer:
        server = SmppServer(custom_handler if custom_handler is not None else handler, "127.0.0.1", 0, **options)
        await server.start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        await server.stop(timeout=1.0)


@pytest.fixture
async def server(make_server: ServerFactory) -> SmppServer:
    return await make_server()


@pytest.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    clients: list[EsmeClient] = []

    def factory(port: int, **options: Any) -> EsmeClient:
        options.setdefault("system_id", SYSTEM_ID)
        options.setdefault("password", PASSWORD)
        options.setdefault("reconnect_delay", 0.05)
        options.setdefault("reconnect_max_delay", 0.2)
        client = EsmeClient("127.0.0.1", port, **options)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.aclose(timeout=1.0)
