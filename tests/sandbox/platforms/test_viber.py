"""The Viber REST Bot API twin on its own: status answers, set_webhook's signed check, signed
delivered/seen callbacks, keyboard taps and the sandbox REST API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tidings.api.testing import serve_app
from tidings.channels.viber.restapi import sign
from tidings.sandbox import Sandbox
from tidings.sandbox.platforms.viber import ViberTwin, create_twin

TOKEN = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"
USER = "+46701234567"
USER_ID = "viber-46701234567"
SENDER = {"name": "Acme"}


@dataclass
class Hook:
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    raw: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    status: int = 200

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        self.raw.append((body, dict(request.headers)))
        self.callbacks.append(orjson.loads(body))
        return Response("ok", status_code=self.status)

    def events(self) -> list[str]:
        return [c["event"] for c in self.callbacks]


@dataclass
class World:
    sandbox: Sandbox
    twin: ViberTwin
    http: httpx.AsyncClient
    url: str
    hook: Hook

    async def call(self, method: str, body: dict[str, Any], token: str = TOKEN) -> dict[str, Any]:
        response = await self.http.post(f"{self.url}/sandbox/platforms/viber/pa/{method}", json=body,
                                        headers={"X-Viber-Auth-Token": token})
        assert response.status_code == 200
        answer: dict[str, Any] = response.json()
        return answer

    async def send(self, **body: Any) -> dict[str, Any]:
        return await self.call("send_message", {"receiver": USER_ID, "sender": SENDER, **body})


@pytest.fixture
async def world() -> AsyncIterator[World]:
    sandbox = Sandbox(seed=1)
    twin = create_twin(sandbox)
    sandbox.register_platform(twin)
    hook = Hook()
    app = Starlette(routes=[*sandbox.routes(), Route("/hook", hook.receive, methods=["POST"])])
    await twin.start()
    async with serve_app(app) as url, httpx.AsyncClient(timeout=5.0) as http:
        sandbox.handset(USER).capabilities = ["SMS", "VIBER"]
        world = World(sandbox, twin, http, url, hook)
        assert (await world.call("set_webhook", {"url": f"{url}/hook", "event_types": ["delivered", "seen"]})) == {
            "status": 0, "status_message": "ok", "chat_hostname": "SN-CHAT-05_", "event_types": ["delivered", "seen"]}
        yield world
        await twin.stop()


async def test_set_webhook_is_checked_with_a_signed_webhook_event(world: World) -> None:
    [check] = world.hook.callbacks
    assert check["event"] == "webhook" and isinstance(check["message_token"], int)
    raw, headers = world.hook.raw[0]
    assert headers["x-viber-content-signature"] == sign(TOKEN, raw)
    world.hook.status = 500
    refused = await world.call("set_webhook", {"url": f"{world.url}/hook"})
    assert refused["status"] == 1 and "is not 200" in refused["status_message"]


async def test_send_then_signed_delivered_and_seen(world: World) -> None:
    answer = await world.send(type="text", text="hello")
    assert answer["status"] == 0 and answer["status_message"] == "ok" and isinstance(answer["message_token"], int)
    await world.twin.idle()
    assert world.hook.events() == ["webhook", "delivered", "seen"]
    delivered = world.hook.callbacks[1]
    assert delivered["message_token"] == answer["message_token"] and delivered["user_id"] == USER_ID
    for raw, headers in world.hook.raw:
        assert headers["x-viber-content-signature"] == sign(TOKEN, raw)
    assert [m.body for m in world.sandbox.messages_for(USER)] == ["hello"]


async def test_filtered_event_types_are_not_sent(world: World) -> None:
    await world.call("set_webhook", {"url": f"{world.url}/hook", "event_types": ["delivered"]})
    await world.send(type="text", text="x")
    await world.twin.idle()
    assert world.hook.events() == ["webhook", "webhook", "delivered"]


@pytest.mark.parametrize(("body", "status"), [
    ({"type": "text"}, 4),
    ({"type": "text", "text": "x" * 7001}, 3),
    ({"type": "gif", "text": "x"}, 3),
    ({"type": "picture", "media": "ftp://x"}, 3),
    ({"type": "text", "text": "x", "keyboard": {"Type": "keyboard", "Buttons": [{"ActionType": "jump",
                                                                                "ActionBody": "x"}]}}, 3),
    ({"type": "rich_media", "rich_media": {"Type": "rich_media", "ButtonsGroupColumns": 7, "Buttons": [{}]}}, 3),
])
async def test_bad_data(world: World, body: dict[str, Any], status: int) -> None:
    answer = await world.send(**body)
    assert answer["status"] == status and answer["status_message"]
    assert "message_token" not in answer


async def test_token_subscription_and_webhook_statuses(world: World) -> None:
    assert (await world.call("send_message", {}, token="nope")) == {"status": 2, "status_message": "invalidAuthToken"}
    assert (await world.send(type="text", text="x", receiver="viber-46709999999")) == {
        "status": 6, "status_message": "notSubscribed"}
    other = "0123456789abcdef-0123456789abcdef"
    assert (await world.call("send_message", {"receiver": USER_ID, "sender": SENDER, "type": "text", "text": "x"},
                             token=other))["status"] == 10


async def test_keyboard_tap_sends_the_action_body(world: World) -> None:
    await world.send(type="text", text="Pick", keyboard={"Type": "keyboard", "Buttons": [
        {"ActionType": "reply", "ActionBody": "tdg1:M:red", "Text": "Red", "Silent": True}]})
    account = next(iter(world.twin.accounts.values()))
    await world.twin.handset_sends(world.sandbox.handset(USER), account.uri, body=None, postback="red")
    message = world.hook.callbacks[-1]
    assert message["event"] == "message" and message["message"] == {"type": "text", "text": "tdg1:M:red"}
    assert message["silent"] is True and message["sender"]["id"] == USER_ID
    with pytest.raises(LookupError):
        await world.twin.handset_sends(world.sandbox.handset(USER), account.uri, body=None, postback="blue")


async def test_sandbox_api_sends_as_the_handset(world: World) -> None:
    account = next(iter(world.twin.accounts.values()))
    response = await world.http.post(f"{world.url}/sandbox/v1/handsets/{USER}/messages",
                                     json={"channel": "VIBER", "to": account.uri, "body": "via api"})
    assert response.status_code == 202, response.text
    assert world.hook.callbacks[-1]["message"]["text"] == "via api"
    assert str(world.hook.callbacks[-1]["message_token"]) == response.json()["message_id"]


async def test_account_info(world: World) -> None:
    info = await world.call("get_account_info", {})
    assert info["status"] == 0 and info["id"].startswith("pa:") and info["webhook"] == f"{world.url}/hook"
