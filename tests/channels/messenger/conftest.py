"""A Messenger rig on 127.0.0.1: the sandbox's Messenger twin and the connector's webhook routes
served over a real socket, a connector pointed at the twin, and an in-memory event sink."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

# The whole platform in both profiles, for the end-to-end tests (see tests/pipeline/conftest.py).
from tests.pipeline.conftest import fresh_postgres_url, http, platform, platform_factory  # noqa: F401
from tidings.api.testing import serve_app
from tidings.channels.contract import (
    ChannelEvent,
    ConnectorContext,
    InboundEvent,
    OutboundMessage,
    StatusEvent,
)
from tidings.channels.messenger import MessengerConnector, create
from tidings.channels.messenger.sent import SentLog
from tidings.sandbox import Sandbox
from tidings.sandbox.handsets import Handset
from tidings.sandbox.platforms.messenger import MessengerTwin, create_twin

APP_ID = "01MSGRAPP"
PAGE_ID = "104512345678901"
TOKEN = "EAAGpagetoken"
APP_SECRET = "meta-app-secret"
HANDSET = "+46701234567"
PSID = "psid-46701234567"
CREDENTIALS = {"channel": "MESSENGER", "static_token": {"token": TOKEN, "claimed_identity": PAGE_ID},
               "callback_secret": APP_SECRET}


@dataclass
class MemorySink:
    apps: dict[str, dict[str, Any]]
    events: list[ChannelEvent] = field(default_factory=list)
    fail_next: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def accept(self, events: Sequence[ChannelEvent]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("the store is down")
        self.events.extend(events)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def credentials(self, app_id: str, channel: str) -> dict[str, Any] | None:
        return self.apps.get(app_id) if channel == "MESSENGER" else None

    def statuses(self, channel_message_id: str) -> list[str]:
        return [e.status for e in self.events if isinstance(e, StatusEvent) and e.channel_message_id == channel_message_id]

    def read_watermarks(self, identity: str = PSID) -> list[int]:
        """The `up_to_ms` of every READ watermark event for `identity`."""
        return [e.up_to_ms for e in self.events if isinstance(e, StatusEvent) and e.is_watermark
                and e.status == "READ" and e.identity == identity and e.up_to_ms is not None]

    async def wait_read(self, at_least: int, identity: str = PSID, timeout: float = 5.0) -> int:
        """The first READ watermark for `identity` covering sends up to `at_least`."""
        async with asyncio.timeout(timeout):
            while True:
                for mark in self.read_watermarks(identity):
                    if mark >= at_least:
                        return mark
                await self._changed.wait()

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
    twin: MessengerTwin
    connector: MessengerConnector
    sink: MemorySink
    http: httpx.AsyncClient
    url: str  # where the rig is served

    @property
    def graph(self) -> str:
        return f"{self.url}/sandbox/platforms/messenger"

    def message(self, content: dict[str, Any], *, identity: str = PSID, last_inbound_ms: int | None = -1,
                **fields: Any) -> OutboundMessage:
        """An outbound message; by default the person wrote a minute ago (window open)."""
        if last_inbound_ms == -1:
            last_inbound_ms = self.sandbox.clock() - 60_000
        return OutboundMessage(message_id="01MSG", project_id="P", app_id=APP_ID, channel="MESSENGER",
                               identity=identity, content=content, credentials=CREDENTIALS,
                               last_inbound_ms=last_inbound_ms, **fields)

    def messenger_handset(self, number: str = HANDSET) -> Handset:
        handset = self.sandbox.handset(number)
        handset.capabilities = sorted({*handset.capabilities, "MESSENGER"})
        return handset

    async def handset_writes(self, body: str, number: str = HANDSET) -> str:
        """The person writes to the page (opening the twin's 24-hour window)."""
        return await self.twin.handset_sends(self.messenger_handset(number), PAGE_ID, body=body, postback=None)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    sandbox = Sandbox(seed=7)
    twin = create_twin(sandbox)
    sandbox.register_platform(twin)
    await twin.start()
    async with httpx.AsyncClient(timeout=5.0) as client:
        ctx = ConnectorContext(base_url="", http=client, clock=sandbox.clock, public_url="",
                               options={"sent_log": SentLog()})
        connector = create(ctx)
        sink = MemorySink({APP_ID: CREDENTIALS, "01NOSECRET": {**CREDENTIALS, "callback_secret": ""}})
        app = Starlette(routes=[*sandbox.routes(),
                                Mount("/channels/messenger", routes=connector.inbound_routes(sink))])
        async with serve_app(app) as url:
            ctx.base_url = f"{url}/sandbox/platforms/messenger"
            ctx.public_url = url
            await connector.configure_app(APP_ID, CREDENTIALS)
            yield Rig(sandbox, twin, connector, sink, client, url)
            await twin.stop()
