"""What the channel rigs share: an in-memory event sink (`MemorySink`), the rig's common fields
(`ChannelRig`), giving a sandbox handset a messaging app (`with_app`), and `serve_rig`, which
serves a platform twin and a connector's webhook routes over a real socket on 127.0.0.1 with the
connector pointed at the twin. Each channel's conftest adds its constants and helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

from tidings.api.testing import serve_app
from tidings.channels.contract import (
    ChannelEvent,
    ConnectorContext,
    InboundEvent,
    StatusEvent,
)
from tidings.sandbox import Sandbox
from tidings.sandbox.handsets import Handset


@dataclass
class MemorySink:
    """The conversation engine's side of the contract, in memory, for one channel; `fail_next`
    makes that many `accept` calls fail as if the store were down."""

    channel: str
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
        return self.apps.get(app_id) if channel == self.channel else None

    def statuses(self, channel_message_id: str) -> list[str]:
        return [e.status for e in self.events if isinstance(e, StatusEvent) and e.channel_message_id == channel_message_id]

    def inbound(self) -> list[InboundEvent]:
        return [e for e in self.events if isinstance(e, InboundEvent)]

    def read_watermarks(self, identity: str) -> list[int]:
        """The `up_to_ms` of every READ watermark event for `identity`."""
        return [e.up_to_ms for e in self.events if isinstance(e, StatusEvent) and e.is_watermark
                and e.status == "READ" and e.identity == identity and e.up_to_ms is not None]

    async def wait_read(self, at_least: int, identity: str, timeout: float = 5.0) -> int:
        """The first READ watermark for `identity` covering sends up to `at_least`."""
        async with asyncio.timeout(timeout):
            while True:
                for mark in self.read_watermarks(identity):
                    if mark >= at_least:
                        return mark
                await self._changed.wait()

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


class _Twin(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class _Connector(Protocol):
    id: str

    def inbound_routes(self, sink: Any) -> Any: ...
    async def configure_app(self, app_id: str, credentials: dict[str, Any]) -> Any: ...
    async def aclose(self) -> None: ...


TwinT = TypeVar("TwinT", bound=_Twin)
ConnectorT = TypeVar("ConnectorT", bound=_Connector)
RigT = TypeVar("RigT", bound="ChannelRig[Any, Any]")


@dataclass
class ChannelRig(Generic[TwinT, ConnectorT]):
    sandbox: Sandbox
    twin: TwinT
    connector: ConnectorT
    sink: MemorySink
    http: httpx.AsyncClient
    url: str  # where the rig is served

    def platform_url(self, twin_name: str) -> str:
        return f"{self.url}/sandbox/platforms/{twin_name}"


def with_app(sandbox: Sandbox, number: str, channel: str) -> Handset:
    """The sandbox handset at `number`, with `channel` among its capabilities."""
    handset = sandbox.handset(number)
    handset.capabilities = sorted({*handset.capabilities, channel})
    return handset


@asynccontextmanager
async def serve_rig(rig_type: type[RigT], create_twin: Callable[[Sandbox], TwinT],
                    create_connector: Callable[[ConnectorContext], ConnectorT], sink: MemorySink, *,
                    twin_name: str, app_id: str, credentials: dict[str, Any],
                    options: dict[str, Any] | None = None) -> AsyncIterator[RigT]:
    """A sandbox (seed 7) with the twin, the connector built with `options`, both served on
    127.0.0.1 (the connector's routes under /channels/{id}), and `app_id` configured."""
    sandbox = Sandbox(seed=7)
    twin = create_twin(sandbox)
    sandbox.register_platform(twin)  # type: ignore[arg-type]
    await twin.start()
    async with httpx.AsyncClient(timeout=5.0) as http:
        ctx = ConnectorContext(base_url="", http=http, clock=sandbox.clock, public_url="", options=options or {})
        connector = create_connector(ctx)
        app = Starlette(routes=[*sandbox.routes(),
                                Mount(f"/channels/{connector.id}", routes=connector.inbound_routes(sink))])
        async with serve_app(app) as url:
            ctx.base_url = f"{url}/sandbox/platforms/{twin_name}"
            ctx.public_url = url
            await connector.configure_app(app_id, credentials)
            try:
                yield rig_type(sandbox, twin, connector, sink, http, url)
            finally:
                await connector.aclose()
                await twin.stop()
