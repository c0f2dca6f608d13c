"""Fixtures for the email connector: the sandbox mail server (SMTP and its REST routes on real
sockets), a connector pointed at it with its inbound listener, and a sink that records events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from tidings.api.testing import serve_app
from tidings.channels.contract import ChannelEvent, ConnectorContext, OutboundMessage
from tidings.channels.email import EmailConnector, create
from tidings.sandbox.mail import MailServer, create_mail_server

APP_ID = "01EMAILAPP0000000000000000"
TRANSACTIONAL = "mail.acme.test"
PROMOTIONAL = "news.acme.test"
CREDENTIALS: dict[str, Any] = {
    "channel": "EMAIL",
    "email_credentials": {
        "from_name": "Acme",
        "from_local_part": "hello",
        "domains": {"transactional": TRANSACTIONAL, "promotional": PROMOTIONAL},
        "unsubscribe_url": "https://acme.test/unsubscribe?e={email}",
    },
}


class RecordingSink:
    """A ChannelEventSink that keeps what it is given."""

    def __init__(self) -> None:
        self.events: list[ChannelEvent] = []
        self._changed = asyncio.Event()

    async def accept(self, events: Sequence[ChannelEvent]) -> None:
        self.events.extend(events)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def credentials(self, app_id: str, channel: str) -> dict[str, Any] | None:
        return CREDENTIALS if (app_id, channel) == (APP_ID, "EMAIL") else None

    async def wait(self, count: int, timeout: float = 5.0) -> list[ChannelEvent]:
        async with asyncio.timeout(timeout):
            while len(self.events) < count:
                await self._changed.wait()
        return list(self.events)


@pytest.fixture
async def mail() -> AsyncIterator[MailServer]:
    server = create_mail_server()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def sandbox_url(mail: MailServer) -> AsyncIterator[str]:
    app = Starlette(routes=[Mount("/sandbox/v1", routes=mail.routes())])
    async with serve_app(app) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
async def connector(mail: MailServer, sandbox_url: str, http: httpx.AsyncClient, sink: RecordingSink,
                    tmp_path: Path) -> AsyncIterator[EmailConnector]:
    ctx = ConnectorContext(
        base_url=f"smtp://127.0.0.1:{mail.port}",
        http=http,
        clock=lambda: 1_700_000_000_000,
        public_url="http://127.0.0.1:1",
        options={"dkim_key_dir": str(tmp_path / "dkim"), "inbound_port": 0,
                 "dns_console_url": f"{sandbox_url}/sandbox/v1/dns"},
    )
    conn = create(ctx)
    conn.inbound_routes(sink)
    await conn.start()
    await conn.configure_app(APP_ID, CREDENTIALS)
    yield conn
    await conn.aclose()


def outbound(to: str, content: dict[str, Any], **fields: Any) -> OutboundMessage:
    fields.setdefault("purpose", "information")
    return OutboundMessage(
        message_id=fields.pop("message_id", "01MSG"), project_id="proj", app_id=APP_ID,
        channel="EMAIL", identity=to, content=content, credentials=CREDENTIALS, **fields,
    )
