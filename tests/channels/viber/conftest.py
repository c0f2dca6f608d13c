"""A Viber rig on 127.0.0.1: the sandbox's Viber twin and the connector's webhook route served
over a real socket, a connector pointed at the twin, and an in-memory event sink."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from tidings.api.testing import serve_app
from tidings.channels.contract import (
    ChannelEvent,
    ConnectorContext,
    InboundEvent,
    OutboundMessage,
    StatusEvent,
)
from tidings.channels.viber import ViberConnector, create
from tidings.sandbox import Sandbox
from tidings.sandbox.handsets import Handset
from tidings.sandbox.platforms.viber import Account, ViberTwin, create_twin

APP_ID = "01VBAPP"
TOKEN = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9"
HANDSET = "+46701234567"
USER_ID = "viber-46701234567"
CREDENTIALS = {"channel": "VIBER", "static_token": {"token": TOKEN}}


@dataclass
class MemorySink:
    apps: dict[str, dict[str, Any]]
    events: list[ChannelEvent] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def accept(self, events: Sequence[ChannelEvent]) -> None:
        self.events.extend(events)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def credentials(self, app_id: str, channel: str) -> dict[str, Any] | None:
        return self.apps.get(app_id) if channel == "VIBER" else None

    def statuses(self, channel_message_id: str) -> list[str]:
        return [e.status for e in self.events if isinstance(e, StatusEvent) and e.channel_message_id == channel_message_id]

    def inbound(self) -> list[InboundEvent]:
        return [e for e in self.events if isinstance(e, InboundEvent)]

    async def wait_status(self, channel_message_id: str, status: str, timeout: float = 5.0) -> StatusEvent:
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if isinstance(event, StatusEvent) and event.channel_message_id == channel_message_id \
                            and event.status == status:
                        return event
                await self._changed.wait()

    async def wait_inbound(self, count: int = 1, timeout: float = 5.0) -> list[InboundEvent]:
        async with asyncio.timeout(timeout):
            while len(self.inbound()) < count:
                await self._changed.wait()
        return self.inbound()


@dataclass
class Rig:
    sandbox: Sandbox
    twin: ViberTwin
    connector: ViberConnector
    sink: MemorySink
    http: httpx.AsyncClient
    url: str

    @property
    def api(self) -> str:
        return f"{self.url}/sandbox/platforms/viber"

    @property
    def account(self) -> Account:
        return self.twin.accounts[TOKEN]

    def message(self, content: dict[str, Any], *, identity: str = USER_ID, message_id: str = "01MSG",
                credentials: dict[str, Any] | None = None) -> OutboundMessage:
        return OutboundMessage(message_id=message_id, project_id="P", app_id=APP_ID, channel="VIBER",
                               identity=identity, content=content, credentials=credentials or CREDENTIALS)

    def viber_handset(self, number: str = HANDSET) -> Handset:
        handset = self.sandbox.handset(number)
        handset.capabilities = sorted({*handset.capabilities, "VIBER"})
        return handset

    async def call(self, method: str, body: dict[str, Any], token: str = TOKEN) -> dict[str, Any]:
        response = await self.http.post(f"{self.api}/pa/{method}", json=body, headers={"X-Viber-Auth-Token": token})
        assert response.status_code == 200
        answer: dict[str, Any] = response.json()
        return answer


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    sandbox = Sandbox(seed=7)
    twin = create_twin(sandbox)
    sandbox.register_platform(twin)
    await twin.start()
    async with httpx.AsyncClient(timeout=5.0) as http:
        ctx = ConnectorContext(base_url="", http=http, clock=sandbox.clock, public_url="",
                               options={"sender_name": "Acme Support"})
        connector = create(ctx)
        sink = MemorySink({APP_ID: CREDENTIALS})
        app = Starlette(routes=[*sandbox.routes(),
                                Mount("/channels/viber", routes=connector.inbound_routes(sink))])
        async with serve_app(app) as url:
            ctx.base_url = f"{url}/sandbox/platforms/viber"
            ctx.public_url = url
            await connector.configure_app(APP_ID, CREDENTIALS)
            yield Rig(sandbox, twin, connector, sink, http, url)
            await connector.aclose()
            await twin.stop()
