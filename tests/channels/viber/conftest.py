"""A Viber rig on 127.0.0.1: the sandbox's Viber twin and the connector's webhook route served
over a real socket, a connector pointed at the twin, and an in-memory event sink."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.channels.support import ChannelRig, MemorySink, serve_rig, with_app
from tidings.channels.contract import OutboundMessage
from tidings.channels.viber import ViberConnector, create
from tidings.sandbox.handsets import Handset
from tidings.sandbox.platforms.viber import Account, ViberTwin, create_twin

APP_ID = "01VBAPP"
TOKEN = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9"
HANDSET = "+46701234567"
USER_ID = "viber-46701234567"
CREDENTIALS = {"channel": "VIBER", "static_token": {"token": TOKEN}}


class Rig(ChannelRig[ViberTwin, ViberConnector]):
    @property
    def api(self) -> str:
        return self.platform_url("viber")

    @property
    def account(self) -> Account:
        return self.twin.accounts[TOKEN]

    def message(self, content: dict[str, Any], *, identity: str = USER_ID, message_id: str = "01MSG",
                credentials: dict[str, Any] | None = None) -> OutboundMessage:
        return OutboundMessage(message_id=message_id, project_id="P", app_id=APP_ID, channel="VIBER",
                               identity=identity, content=content, credentials=credentials or CREDENTIALS)

    def viber_handset(self, number: str = HANDSET) -> Handset:
        return with_app(self.sandbox, number, "VIBER")

    async def call(self, method: str, body: dict[str, Any], token: str = TOKEN) -> dict[str, Any]:
        response = await self.http.post(f"{self.api}/pa/{method}", json=body, headers={"X-Viber-Auth-Token": token})
        assert response.status_code == 200
        answer: dict[str, Any] = response.json()
        return answer


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with serve_rig(Rig, create_twin, create, MemorySink("VIBER", {APP_ID: CREDENTIALS}), twin_name="viber",
                         app_id=APP_ID, credentials=CREDENTIALS,
                         options={"sender_name": "Acme Support"}) as served:
        yield served
