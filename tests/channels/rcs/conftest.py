"""An RCS world over real HTTP: the sandbox with its RBM twin and the RCS connector's webhook,
served by uvicorn on 127.0.0.1, and a sink that keeps what the connector hands it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from tidings.api.testing import serve_app
from tidings.channels.contract import ChannelEvent, ConnectorContext, OutboundMessage
from tidings.channels.rcs import RcsConnector, create
from tidings.sandbox import Sandbox
from tidings.sandbox.platforms.rbm import RbmTwin, create_twin

AGENT = "tidings-test-agent@rbm.goog"
TOKEN = "rbm-token-1"
CLIENT_TOKEN = "client-token-secret"
APP = "01APPRCS"


def credentials(agent: str = AGENT, token: str = TOKEN, client_token: str | None = CLIENT_TOKEN) -> dict[str, Any]:
    entry: dict[str, Any] = {"channel": "RCS", "static_bearer": {"claimed_identity": agent, "token": token}}
    if client_token is not None:
        entry["callback_secret"] = client_token
    return entry


@dataclass
class MemorySink:
    """The conversation engine's side of the contract, in memory."""

    apps: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    events: list[ChannelEvent] = field(default_factory=list)
    fail: bool = False
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def accept(self, events: Sequence[ChannelEvent]) -> None:
        if self.fail:
            raise RuntimeError("store unavailable")
        self.events.extend(events)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def credentials(self, app_id: str, channel: str) -> dict[str, Any] | None:
        return self.apps.get((app_id, channel))

    async def wait_for(self, predicate: Callable[[ChannelEvent], bool], count: int = 1,
                       timeout: float = 5.0) -> list[ChannelEvent]:
        async with asyncio.timeout(timeout):
            while len(found := [e for e in self.events if predicate(e)]) < count:
                await self._changed.wait()
        return found


@dataclass
class RcsWorld:
    url: str
    sandbox: Sandbox
    twin: RbmTwin
    connector: RcsConnector
    sink: MemorySink
    http: httpx.AsyncClient

    def message(self, content: dict[str, Any], identity: str = "+46701234567", **fields: Any) -> OutboundMessage:
        base: dict[str, Any] = {"message_id": "01MSG" + identity[-6:], "project_id": "P1", "app_id": APP,
                                "channel": "RCS", "identity": identity, "content": content,
                                "credentials": credentials()}
        return OutboundMessage(**(base | fields))

    def rcs_handset(self, number: str) -> None:
        self.sandbox.handset(number).capabilities = ["SMS", "RCS"]


@pytest.fixture
async def rcs() -> AsyncIterator[RcsWorld]:
    sandbox = Sandbox(seed=1)
    twin = create_twin(sandbox)
    sandbox.register_platform(twin)
    sink = MemorySink()
    sink.apps[(APP, "RCS")] = credentials()
    async with httpx.AsyncClient() as http:
        app = Starlette(routes=sandbox.routes())
        async with serve_app(app) as url:
            connector = create(ConnectorContext(base_url=f"{url}/sandbox/platforms/rbm", http=http,
                                                clock=sandbox.clock, public_url=url))
            app.router.routes.append(Mount(f"/channels/{connector.id}", routes=connector.inbound_routes(sink)))
            await twin.start()
            await connector.start()
            await connector.configure_app(APP, credentials())
            try:
                yield RcsWorld(url, sandbox, twin, connector, sink, http)
            finally:
                await connector.aclose()
                await twin.stop()
