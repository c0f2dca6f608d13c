"""Fixtures for sandbox tests: a started sandbox on 127.0.0.1 and ESME clients that record deliver_sm."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tidings.sandbox import Sandbox
from tidings.smpp import CommandStatus, EsmeClient
from tidings.smpp.pdu import DeliverSm

SYSTEM_ID = "esme"
PASSWORD = "secret"
SEED = 1234


class Inbox:
    """An `on_deliver_sm` callback that keeps every deliver_sm and answers ESME_ROK."""

    def __init__(self) -> None:
        self.pdus: list[DeliverSm] = []
        self._changed = asyncio.Event()

    async def __call__(self, pdu: DeliverSm) -> int:
        self.pdus.append(pdu)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        return CommandStatus.ESME_ROK

    async def wait(self, count: int, timeout: float = 5.0) -> list[DeliverSm]:
        async with asyncio.timeout(timeout):
            while len(self.pdus) < count:
                await self._changed.wait()
        return list(self.pdus)


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    world = Sandbox(seed=SEED)
    world.add_account(SYSTEM_ID, PASSWORD)
    world.set_rule("", latency_ms=0)
    await world.start()
    yield world
    await world.stop()


ClientFactory = Callable[..., EsmeClient]


@pytest.fixture
async def make_client(sandbox: Sandbox) -> AsyncIterator[ClientFactory]:
    clients: list[EsmeClient] = []

    def factory(**options: Any) -> EsmeClient:
        options.setdefault("system_id", SYSTEM_ID)
        options.setdefault("password", PASSWORD)
        options.setdefault("reconnect_delay", 0.05)
        options.setdefault("reconnect_max_delay", 0.2)
        client = EsmeClient("127.0.0.1", sandbox.port, **options)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.aclose(timeout=1.0)


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
async def client(make_client: ClientFactory, inbox: Inbox) -> EsmeClient:
    esme = make_client(on_deliver_sm=inbox)
    await esme.start()
    await esme.wait_bound(5.0)
    return esme
