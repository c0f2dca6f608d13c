"""Wiring of the Conversation API's moving parts for a runtime.

    ConversationWorker(ctx)        the worker side (in `Pipeline`): every enabled connector
                                   (`channels/registry.py`, SMS through the SMS pipeline), the
                                   engine and its event processor
    channel_routes(ctx)            the API side: each connector's inbound webhook routes under
                                   /channels/{id}, storing events with `EventSink`
    public_url(settings)           where Tidings is reachable (webhook URLs, sandbox twins)
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.routing import BaseRoute, Mount, Router

from tidings.channels import registry
from tidings.channels.contract import ConversationConnector
from tidings.channels.http_client import HttpClient
from tidings.config import Settings
from tidings.conversations.engine import ConversationEngine
from tidings.conversations.events import EventSink
from tidings.runtime.context import Context

log = logging.getLogger(__name__)

__all__ = ["ChannelRoutes", "ConversationWorker", "connector_options", "public_url"]


def public_url(settings: Settings) -> str:
    return (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")


def by_channel(connectors: dict[str, ConversationConnector]) -> dict[str, ConversationConnector]:
    """One connector per channel: the first by id (sms_conversation is the SMS one)."""
    out: dict[str, ConversationConnector] = {}
    for connector in connectors.values():
        out.setdefault(connector.channel, connector)
    return out


def connector_options(ctx: Context) -> dict[str, dict[str, Any]]:
    """What the runtime configured per connector, plus the SMS pipeline's context."""
    options = {cid: dict(values) for cid, values in ctx.channel_options.items()}
    options.setdefault("sms_conversation", {})["ctx"] = ctx
    return options


class ConversationWorker:
    def __init__(self, ctx: Context, *, extra_connectors: dict[str, ConversationConnector] | None = None,
                 timeout: float | None = None) -> None:
        self.ctx = ctx
        self._http = HttpClient(timeout=timeout or ctx.settings.channel_timeout_seconds)
        connectors = registry.build(public_url(ctx.settings), self._http, ctx.clock,
                                    extra_options=connector_options(ctx))
        connectors.update(extra_connectors or {})
        self.connectors = connectors
        self.engine = ConversationEngine(ctx.db, ctx.clock, by_channel(connectors))
        ctx.conversation_work = self.engine.wakeup.set  # this process's API accepts work for it
        # Connectors that report from this process (email's SMTP listener and its DELIVERED on
        # hand-off, Telegram's DELIVERED on acceptance) store their events through this sink.
        self.sink = EventSink(ctx.db, ctx.clock, on_accept=self.engine.wakeup.set)
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def start(self) -> None:
        for connector in self.connectors.values():
            try:
                connector.inbound_routes(self.sink)  # routes unused here: the API serves them
                await connector.start()
            except Exception:  # noqa: BLE001 - one platform down must not stop the others
                log.exception("connector %s failed to start", connector.id)
        self._task = asyncio.get_running_loop().create_task(self.engine.run(self._stop),
                                                            name="conversation-engine")

    async def stop(self) -> None:
        self._stop.set()
        self.engine.wakeup.set()  # not a poll later
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        for connector in self.connectors.values():
            try:
                await connector.aclose()
            except Exception:  # noqa: BLE001
                log.exception("connector %s failed to close", connector.id)
        await self._http.aclose()


class ChannelRoutes:
    """The API side's connector instances, for their inbound webhook routes under /channels.

    Built on the first request, so that they see the settings' final public URL (a test
    harness learns its port only once the server listens)."""

    def __init__(self, ctx: Context, *, extra_connectors: dict[str, ConversationConnector] | None = None
                 ) -> None:
        self._ctx = ctx
        self._extra = extra_connectors or {}
        self._http = HttpClient(timeout=10.0)
        # Looked up at each event: the worker sets the hook after these routes are made.
        self.sink = EventSink(ctx.db, ctx.clock, on_accept=lambda: ctx.conversation_work())
        self.connectors: dict[str, ConversationConnector] | None = None
        self._router: Router | None = None

    def _build(self) -> Router:
        connectors = registry.build(public_url(self._ctx.settings), self._http, self._ctx.clock,
                                    extra_options=connector_options(self._ctx))
        connectors.update(self._extra)
        self.connectors = connectors
        mounts: list[BaseRoute] = []
        for cid, connector in connectors.items():
            try:
                routes = connector.inbound_routes(self.sink)
            except Exception:  # noqa: BLE001
                log.exception("connector %s has no usable inbound routes", cid)
                continue
            if routes:
                mounts.append(Mount(f"/{cid}", routes=routes))
        return Router(routes=mounts)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._router is None:
            self._router = self._build()
        await self._router(scope, receive, send)

    def routes(self) -> list[BaseRoute]:
        return [Mount("/channels", app=self)]

    async def aclose(self) -> None:
        await self._http.aclose()
