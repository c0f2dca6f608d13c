"""A Messenger rig on 127.0.0.1: the sandbox's Messenger twin and the connector's webhook routes
served over a real socket, a connector pointed at the twin, and an in-memory event sink."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.channels.support import ChannelRig, MemorySink, serve_rig, with_app

# The whole platform in both profiles, for the end-to-end tests (see tests/pipeline/conftest.py).
from tests.pipeline.conftest import fresh_postgres_url, http, platform, platform_factory  # noqa: F401
from tidings.channels.contract import OutboundMessage
from tidings.channels.messenger import MessengerConnector, create
from tidings.channels.messenger.sent import SentLog
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


class Rig(ChannelRig[MessengerTwin, MessengerConnector]):
    @property
    def graph(self) -> str:
        return self.platform_url("messenger")

    def message(self, content: dict[str, Any], *, identity: str = PSID, last_inbound_ms: int | None = -1,
                **fields: Any) -> OutboundMessage:
        """An outbound message; by default the person wrote a minute ago (window open)."""
        if last_inbound_ms == -1:
            last_inbound_ms = self.sandbox.clock() - 60_000
        return OutboundMessage(message_id="01MSG", project_id="P", app_id=APP_ID, channel="MESSENGER",
                               identity=identity, content=content, credentials=CREDENTIALS,
                               last_inbound_ms=last_inbound_ms, **fields)

    def messenger_handset(self, number: str = HANDSET) -> Handset:
        return with_app(self.sandbox, number, "MESSENGER")

    async def handset_writes(self, body: str, number: str = HANDSET) -> str:
        """The person writes to the page (opening the twin's 24-hour window)."""
        return await self.twin.handset_sends(self.messenger_handset(number), PAGE_ID, body=body, postback=None)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    sink = MemorySink("MESSENGER", {APP_ID: CREDENTIALS, "01NOSECRET": {**CREDENTIALS, "callback_secret": ""}})
    async with serve_rig(Rig, create_twin, create, sink, twin_name="messenger", app_id=APP_ID,
                         credentials=CREDENTIALS, options={"sent_log": SentLog()}) as served:
        yield served
