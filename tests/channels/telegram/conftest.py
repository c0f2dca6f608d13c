"""A Telegram rig on 127.0.0.1: the sandbox's Telegram twin and the connector's webhook route
served over a real socket, a connector pointed at the twin, and an in-memory event sink."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.channels.support import ChannelRig, MemorySink, serve_rig, with_app
from tidings.channels.contract import OutboundMessage
from tidings.channels.telegram import TelegramConnector, create
from tidings.sandbox.handsets import Handset
from tidings.sandbox.platforms.telegram import TelegramTwin, create_twin

APP_ID = "01TGAPP"
BOT_ID = 7012345678
TOKEN = f"{BOT_ID}:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
HANDSET = "+46701234567"
CHAT_ID = "46701234567"
CREDENTIALS = {"channel": "TELEGRAM", "telegram_credentials": {"token": TOKEN}, "callback_secret": "tg-secret"}


class Rig(ChannelRig[TelegramTwin, TelegramConnector]):
    @property
    def api(self) -> str:
        return self.platform_url("telegram")

    def message(self, content: dict[str, Any], *, identity: str = CHAT_ID,
                credentials: dict[str, Any] | None = None) -> OutboundMessage:
        return OutboundMessage(message_id="01MSG", project_id="P", app_id=APP_ID, channel="TELEGRAM",
                               identity=identity, content=content, credentials=credentials or CREDENTIALS)

    def telegram_handset(self, number: str = HANDSET) -> Handset:
        return with_app(self.sandbox, number, "TELEGRAM")

    async def call(self, method: str, **params: Any) -> httpx.Response:
        return await self.http.post(f"{self.api}/bot{TOKEN}/{method}", json=params)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with serve_rig(Rig, create_twin, create, MemorySink("TELEGRAM", {APP_ID: CREDENTIALS}),
                         twin_name="telegram", app_id=APP_ID, credentials=CREDENTIALS) as served:
        yield served
