"""The RBM twin behaves like Google's RBM API: auth, error shapes, validation, capability,
native delivery to handsets, receipts and user messages to a signed, retried webhook."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tidings.api.testing import serve_app
from tidings.sandbox import Sandbox
from tidings.sandbox.platforms import rbm
from tidings.sandbox.platforms.rbm import FEATURES, RbmTwin, create_twin

AGENT = "shop@rbm.goog"
TOKEN = "tok-shop"
CLIENT_TOKEN = "ct-shop"
RCS = "+46701110001"
SMS_ONLY = "+46701110002"


@dataclass
class Receiver:
    """The agent's webhook: answers the handshake, records signed pushes, can fail on purpose."""

    client_token: str = CLIENT_TOKEN
    pushes: list[dict[str, Any]] = field(default_factory=list)
    signatures_ok: list[bool] = field(default_factory=list)
    fail_next: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def endpoint(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        if "message" not in body:
            if body.get("clientToken") != self.client_token:
                return PlainTextResponse("no", 403)
            return PlainTextResponse(body["secret"])
        if self.fail_next:
            self.fail_next -= 1
            return PlainTextResponse("busy", 503)
        data = base64.b64decode(body["message"]["data"])
        expected = base64.b64encode(hmac.new(self.client_token.encode(), data, hashlib.sha512).digest()).decode()
        self.signatures_ok.append(request.headers.get("x-goog-signature") == expected)
        self.pushes.append(orjson.loads(data))
        self.arrived.set()
        return Response(status_code=200)

    async def wait(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while len(self.pushes) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.pushes


@dataclass
class World:
    url: str
    api: str
    sandbox: Sandbox
    twin: RbmTwin
    receiver: Receiver
    http: httpx.AsyncClient

    def headers(self, token: str = TOKEN) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def send(self, phone: str, content: dict[str, Any], message_id: str = "m-1", *,
                   agent: str = AGENT, token: str = TOKEN) -> httpx.Response:
        return await self.http.post(f"{self.api}/v1/phones/{phone}/agentMessages",
                                    params={"messageId": message_id, "agentId": agent},
                                    json={"contentMessage": content}, headers=self.headers(token))


@pytest.fixture
async def world() -> AsyncIterator[World]:
    sandbox = Sandbox(seed=3)
    twin = create_twin(sandbox, delivered_after_ms=5, read_after_ms=10)
    sandbox.register_platform(twin)
    receiver = Receiver()
    app = Starlette(routes=[*sandbox.routes(), Route("/hook", receiver.endpoint, methods=["POST"])])
    sandbox.handset(RCS).capabilities = ["SMS", "RCS"]
    async with serve_app(app) as url, httpx.AsyncClient() as http:
        await twin.start()
        api = f"{url}/sandbox/platforms/rbm"
        registered = await http.put(f"{api}/console/agents/{AGENT}", json={
            "token": TOKEN, "webhook": {"url": f"{url}/hook", "clientToken": CLIENT_TOKEN}})
        assert registered.status_code == 200, registered.text
        try:
            yield World(url, api, sandbox, twin, receiver, http)
        finally:
            await twin.stop()


def google_error(response: httpx.Response, code: int, status: str) -> None:
    assert response.status_code == code, response.text
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (code, status)
    assert error["message"]


async def test_auth(world: World) -> None:
    text = {"text": "hi"}
    no_header = await world.http.post(f"{world.api}/v1/phones/{RCS}/agentMessages",
                                      params={"messageId": "x", "agentId": AGENT}, json={"contentMessage": text})
    google_error(no_header, 401, "UNAUTHENTICATED")
    google_error(await world.send(RCS, text, token="bad"), 401, "UNAUTHENTICATED")
    world.twin.add_agent("other@rbm.goog", "tok-other")
    google_error(await world.send(RCS, text, token="tok-other"), 403, "PERMISSION_DENIED")
    google_error(await world.send(RCS, text, agent="ghost@rbm.goog"), 403, "PERMISSION_DENIED")
    assert world.sandbox.messages_for(RCS) == []


async def test_delivery_receipts_and_signed_webhook(world: World) -> None:
    content = {"text": "Hello", "suggestions": [{"reply": {"text": "Hi", "postbackData": "hi"}}]}
    response = await world.send(RCS, content, "msg-1")
    assert response.status_code == 200
    assert response.json()["name"] == f"phones/{RCS}/agentMessages/msg-1"
    assert response.json()["contentMessage"] == content
    [message] = world.sandbox.messages_for(RCS)
    assert (message.channel, message.sender, message.body, message.content) == ("RCS", AGENT, "Hello", content)
    pushes = await world.receiver.wait(2)
    assert [(p["eventType"], p["messageId"], p["senderPhoneNumber"], p["agentId"]) for p in pushes] == [
        ("DELIVERED", "msg-1", RCS, AGENT), ("READ", "msg-1", RCS, AGENT)]
    assert all(world.receiver.signatures_ok)


async def test_user_without_rcs_and_bad_numbers(world: World) -> None:
    google_error(await world.send(SMS_ONLY, {"text": "hi"}), 404, "NOT_FOUND")
    google_error(await world.send("46701110001", {"text": "hi"}), 400, "INVALID_ARGUMENT")
    capability = await world.http.get(f"{world.api}/v1/phones/{SMS_ONLY}/capabilities",
                                      params={"requestId": "r1", "agentId": AGENT}, headers=world.headers())
    google_error(capability, 404, "NOT_FOUND")
    ok = await world.http.get(f"{world.api}/v1/phones/{RCS}/capabilities",
                              params={"requestId": "r2", "agentId": AGENT}, headers=world.headers())
    assert ok.json() == {"features": FEATURES}


@pytest.mark.parametrize("content", [
    {},
    {"text": "a", "contentInfo": {"fileUrl": "https://x/y.png"}},
    {"text": "x" * 3073},
    {"contentInfo": {"fileUrl": "file:///etc/passwd"}},
    {"richCard": {"carouselCard": {"cardWidth": "MEDIUM", "cardContents": [{"title": "only one"}]}}},
    {"richCard": {"standaloneCard": {"cardContent": {"title": "t", "suggestions": [
        {"reply": {"text": str(i), "postbackData": "p"}} for i in range(5)]}}}},
    {"richCard": {"standaloneCard": {"cardContent": {"media": {"height": "HUGE",
                                                               "contentInfo": {"fileUrl": "https://x/y"}}}}}},
    {"text": "t", "suggestions": [{"reply": {"text": "x" * 26, "postbackData": "p"}}]},
    {"text": "t", "suggestions": [{"action": {"text": "Call", "postbackData": "p", "dialAction": {}}}]},
    {"text": "t", "suggestions": [{"action": {"text": "Go", "postbackData": "p"}}]},
    {"text": "t", "suggestions": [{"reply": {"text": "r", "postbackData": "p"}} for _ in range(12)]},
])
async def test_invalid_content_is_refused(world: World, content: dict[str, Any]) -> None:
    google_error(await world.send(RCS, content), 400, "INVALID_ARGUMENT")
    assert world.sandbox.messages_for(RCS) == []


async def test_reused_message_id_is_refused(world: World) -> None:
    assert (await world.send(RCS, {"text": "one"}, "same")).status_code == 200
    google_error(await world.send(RCS, {"text": "two"}, "same"), 409, "ALREADY_EXISTS")
    assert [m.body for m in world.sandbox.messages_for(RCS)] == ["one"]


async def test_the_twin_remembers_only_the_newest_message_ids(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rbm, "SENT_KEPT", 2)
    for message_id in ("a", "b", "c"):
        assert (await world.send(RCS, {"text": message_id}, message_id)).status_code == 200
    assert len(world.twin.sent) == 2
    google_error(await world.send(RCS, {"text": "again"}, "c"), 409, "ALREADY_EXISTS")
    assert (await world.send(RCS, {"text": "again"}, "a")).status_code == 200  # forgotten


async def test_the_twin_remembers_only_the_newest_agent_events(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rbm, "MAX_REMEMBERED", 1)
    url = f"{world.api}/v1/phones/{RCS}/agentEvents"
    for message_id in ("MsU1", "MsU2"):
        read = await world.http.post(url, params={"agentId": AGENT}, json={"eventType": "READ", "messageId": message_id},
                                     headers=world.headers())
        assert read.status_code == 200
    assert list(world.twin.read_by_agent) == ["MsU2"]
    agent = (await world.http.get(f"{world.api}/console/agents/{AGENT}")).json()
    assert [e["messageId"] for e in agent["events"]] == ["MsU2"]


async def test_agent_events(world: World) -> None:
    url = f"{world.api}/v1/phones/{RCS}/agentEvents"
    params = {"eventId": "e1", "agentId": AGENT}
    typing = await world.http.post(url, params=params, json={"eventType": "IS_TYPING"}, headers=world.headers())
    assert typing.json()["eventType"] == "IS_TYPING"
    google_error(await world.http.post(url, params=params, json={"eventType": "READ"}, headers=world.headers()),
                 400, "INVALID_ARGUMENT")
    read = await world.http.post(url, params=params, json={"eventType": "READ", "messageId": "MsU1"},
                                 headers=world.headers())
    assert read.status_code == 200 and "MsU1" in world.twin.read_by_agent
    google_error(await world.http.post(f"{world.api}/v1/phones/{SMS_ONLY}/agentEvents", params=params,
                                       json={"eventType": "IS_TYPING"}, headers=world.headers()), 404, "NOT_FOUND")
    agent = (await world.http.get(f"{world.api}/console/agents/{AGENT}")).json()
    assert [e["eventType"] for e in agent["events"]] == ["IS_TYPING", "READ"]


async def test_console_refuses_a_webhook_that_fails_verification(world: World) -> None:
    response = await world.http.put(f"{world.api}/console/agents/{AGENT}", json={
        "token": TOKEN, "webhook": {"url": f"{world.url}/hook", "clientToken": "not-what-the-hook-knows"}})
    google_error(response, 412, "FAILED_PRECONDITION")
    assert world.twin.agents[AGENT].client_token == CLIENT_TOKEN  # the verified one stays


async def test_user_messages_and_taps_through_the_sandbox_api(world: World) -> None:
    content = {"text": "Size?", "suggestions": [{"reply": {"text": "Large", "postbackData": "tdg1:M9:size-l"}}]}
    await world.send(RCS, content, "ask")
    await world.receiver.wait(2)
    number = RCS.replace("+", "%2B")
    wrote = await world.http.post(f"{world.url}/sandbox/v1/handsets/{number}/messages",
                                  json={"channel": "RCS", "to": AGENT, "body": "hello there"})
    assert wrote.status_code == 202, wrote.text
    tapped = await world.http.post(f"{world.url}/sandbox/v1/handsets/{number}/messages",
                                   json={"channel": "RCS", "to": AGENT, "postback": "size-l"})
    assert tapped.status_code == 202, tapped.text
    pushes = await world.receiver.wait(4)
    assert pushes[2]["text"] == "hello there" and pushes[2]["messageId"] == wrote.json()["message_id"]
    assert pushes[3]["suggestionResponse"] == {"postbackData": "tdg1:M9:size-l", "text": "Large", "type": "REPLY"}
    missing = await world.http.post(f"{world.url}/sandbox/v1/handsets/{number}/messages",
                                    json={"channel": "RCS", "to": AGENT, "postback": "never-offered"})
    assert missing.status_code == 409
    unknown = await world.http.post(f"{world.url}/sandbox/v1/handsets/{number}/messages",
                                    json={"channel": "RCS", "to": "nobody@rbm.goog", "body": "hi"})
    assert unknown.status_code == 409
    listed = (await world.http.get(f"{world.url}/sandbox/v1/handsets/{number}/messages",
                                   params={"channel": "RCS"})).json()["messages"]
    assert listed[0]["content"] == content


async def test_webhook_failures_are_retried_in_order(world: World) -> None:
    world.receiver.fail_next = 3
    handset = world.sandbox.handset(RCS)
    for text in ("first", "second"):
        await world.twin.handset_sends(handset, AGENT, body=text, postback=None)
    pushes = await world.receiver.wait(2)
    assert [p["text"] for p in pushes] == ["first", "second"]
