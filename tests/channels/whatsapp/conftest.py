"""A WhatsApp rig on 127.0.0.1: the sandbox's WhatsApp twin and the connector's webhook routes
served over a real socket, a connector pointed at the twin, and an in-memory event sink."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.channels.support import ChannelRig, MemorySink, serve_rig, with_app
from tidings.channels.contract import OutboundMessage
from tidings.channels.whatsapp import WhatsAppConnector, create
from tidings.sandbox.handsets import Handset
from tidings.sandbox.platforms.whatsapp import WhatsAppTwin, create_twin

APP_ID = "01WAAPP"
PHONE_NUMBER_ID = "106540352242922"
TOKEN = "EAAJBsandboxtoken"
APP_SECRET = "meta-app-secret"
HANDSET = "+46701234567"
CREDENTIALS = {"channel": "WHATSAPP", "static_bearer": {"claimed_identity": PHONE_NUMBER_ID, "token": TOKEN},
               "callback_secret": APP_SECRET}


class Rig(ChannelRig[WhatsAppTwin, WhatsAppConnector]):
    @property
    def graph(self) -> str:
        return self.platform_url("whatsapp")

    def message(self, content: dict[str, Any], *, identity: str = HANDSET, last_inbound_ms: int | None = -1,
                **fields: Any) -> OutboundMessage:
        """An outbound message; by default the contact wrote a minute ago (window open)."""
        if last_inbound_ms == -1:
            last_inbound_ms = self.sandbox.clock() - 60_000
        return OutboundMessage(message_id="01MSG", project_id="P", app_id=APP_ID, channel="WHATSAPP",
                               identity=identity, content=content, credentials=CREDENTIALS,
                               last_inbound_ms=last_inbound_ms, **fields)

    def whatsapp_handset(self, number: str = HANDSET) -> Handset:
        return with_app(self.sandbox, number, "WHATSAPP")

    async def handset_writes(self, body: str, number: str = HANDSET) -> str:
        """The handset writes to the business (opening the twin's 24-hour window)."""
        return await self.twin.handset_sends(self.whatsapp_handset(number), PHONE_NUMBER_ID, body=body, postback=None)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    sink = MemorySink("WHATSAPP", {APP_ID: CREDENTIALS, "01NOSECRET": {**CREDENTIALS, "callback_secret": ""}})
    async with serve_rig(Rig, create_twin, create, sink, twin_name="whatsapp", app_id=APP_ID,
                         credentials=CREDENTIALS) as served:
        yield served
