"""Helpers for end-to-end Conversation API tests: an OAuth2 session on the platform, apps with
webhooks, waiting for a message's status, and a scriptable fake connector."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.routing import BaseRoute

from tidings.channels.contract import (
    Capability,
    ChannelEventSink,
    ChannelFeature,
    ConnectorContext,
    OutboundMessage,
    SendResult,
)
from tidings.core.errors import PermanentDeliveryError, TransientDeliveryError
from tidings.testing.platform import Platform

SENDER = "+46700000099"
SECRET = "conversation-hook-secret"


@dataclass
class Session:
    platform: Platform
    http: httpx.AsyncClient
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def url(self, path: str) -> str:
        return f"{self.platform.base_url}/v1/projects/{self.platform.creds.project_id}{path}"

    async def post(self, path: str, body: Any) -> httpx.Response:
        return await self.http.post(self.url(path), json=body, headers=self.headers)

    async def get(self, path: str) -> httpx.Response:
        return await self.http.get(self.url(path), headers=self.headers)


async def session(platform: Platform, http: httpx.AsyncClient) -> Session:
    r = await http.post(f"{platform.base_url}/oauth2/token",
                        auth=(platform.creds.key_id, platform.creds.key_secret),
                        data={"grant_type": "client_credentials"})
    assert r.status_code == 200, r.text
    return Session(platform, http, r.json()["access_token"])


async def make_app(s: Session, hook_url: str | None, *, extra_credentials: list[dict[str, Any]] = ()) -> str:
    creds = [{"channel": "SMS", "static_bearer": {"claimed_identity": s.platform.creds.service_plan_id,
                                                  "token": "x", "sender": SENDER}}, *extra_credentials]
    r = await s.post("/apps", {"display_name": "e2e", "channel_credentials": creds})
    assert r.status_code == 200, r.text
    app_id = r.json()["id"]
    if hook_url:
        r = await s.post(f"/apps/{app_id}/webhooks", {
            "target": hook_url, "secret": SECRET,
            "triggers": ["MESSAGE_DELIVERY", "MESSAGE_INBOUND", "CONTACT_CREATE"]})
        assert r.status_code == 200, r.text
    return str(app_id)


async def wait_message(s: Session, message_id: str, statuses: tuple[str, ...],
                       timeout: float = 15.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        r = await s.get(f"/messages/{message_id}")
        assert r.status_code == 200, r.text
        body = r.json()
        if body["delivery"]["status"] in statuses:
            return body  # type: ignore[no-any-return]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"message never reached {statuses}: {body}")
        await asyncio.sleep(0.05)


@dataclass
class Script:
    """What the fake connector does: per call, in order."""

    reachable: bool = True
    outcomes: list[str] = field(default_factory=list)  # "ok", "transient", "permanent"
    deliver: bool = False  # answer DELIVERED through the sink after a send
    sent: list[OutboundMessage] = field(default_factory=list)
    sink: ChannelEventSink | None = None


class FakeConnector:
    """A connector against the contract, scripted by a shared `Script`."""

    id = "fake"
    features = ChannelFeature.TEXT | ChannelFeature.CHOICE
    _ids = itertools.count(1)

    def __init__(self, ctx: ConnectorContext, channel: str, script: Script) -> None:
        self.channel = channel
        self.script = script

    async def capability(self, message: OutboundMessage) -> Capability:
        return Capability(self.script.reachable, None if self.script.reachable else "no RCS on the handset")

    async def send(self, message: OutboundMessage) -> SendResult:
        outcome = self.script.outcomes.pop(0) if self.script.outcomes else "ok"
        self.script.sent.append(message)
        if outcome == "transient":
            raise TransientDeliveryError("503 from the platform", retry_after=0.05)
        if outcome == "permanent":
            raise PermanentDeliveryError("recipient refused", 400)
        return SendResult(f"fake-{next(self._ids)}")

    async def configure_app(self, app_id: str, credentials: dict[str, Any]) -> None:
        return None

    def inbound_routes(self, sink: ChannelEventSink) -> list[BaseRoute]:
        return []

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
