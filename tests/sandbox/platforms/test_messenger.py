"""The Messenger Platform twin on its own: Send API wire format, errors, watermarks and console."""

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
from tidings.channels.messenger.graph import ErrorCode, Subcode, sign, sign_sha1
from tidings.sandbox import Sandbox
from tidings.sandbox.platforms.messenger import (
    MessengerTwin,
    create_twin,
    page_id_for_token,
)

PAGE = "1234567"
TOKEN = "tok"
SECRET = "app-secret"
USER = "+46701234567"
PSID = "psid-46701234567"


@dataclass
class Hook:
    """A webhook receiver that keeps each signed delivery."""

    bodies: list[dict[str, Any]] = field(default_factory=list)
    raw: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        self.raw.append((body, dict(request.headers)))
        self.bodies.append(orjson.loads(body))
        return Response("ok")

    def events(self, key: str) -> list[dict[str, Any]]:
        return [m for b in self.bodies for e in b["entry"] for m in e["messaging"] if key in m]


@dataclass
class World:
    sandbox: Sandbox
    twin: MessengerTwin
    http: httpx.AsyncClient
    base: str
    hook: Hook

    async def send(self, message: dict[str, Any] | None = None, *, token: str = TOKEN, page: str = PAGE,
                   **envelope: Any) -> httpx.Response:
        body: dict[str, Any] = {"recipient": {"id": PSID}, "messaging_type": "RESPONSE", **envelope}
        if message is not None:
            body["message"] = message
        return await self.http.post(f"{self.base}/v21.0/{page}/messages", json=body,
                                    headers={"Authorization": f"Bearer {token}"})

    async def user_writes(self, text: str = "hi") -> str:
        return await self.twin.handset_sends(self.sandbox.handset(USER), PAGE, body=text, postback=None)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    sandbox = Sandbox(seed=1)
    twin = create_twin(sandbox)
    sandbox.register_platform(twin)
    hook = Hook()
    app = Starlette(routes=[*sandbox.routes(), Route("/hook", hook.receive, methods=["POST"])])
    await twin.start()
    async with serve_app(app) as url, httpx.AsyncClient(timeout=5.0) as http:
        base = f"{url}/sandbox/platforms/messenger"
        response = await http.put(f"{base}/console/pages/{PAGE}", json={
            "access_token": TOKEN, "app_secret": SECRET, "webhook_url": f"{url}/hook", "verify_token": "v",
            "name": "Shoe Shop"})
        assert response.status_code == 200
        sandbox.handset(USER).capabilities = ["SMS", "MESSENGER"]
        yield World(sandbox, twin, http, base, hook)
        await twin.stop()


async def test_send_answers_and_delivery_then_read_follow_signed(world: World) -> None:
    await world.user_writes("hi")
    response = await world.send({"text": "hello"})
    assert response.status_code == 200, response.text
    body = response.json()
    mid = body["message_id"]
    assert body == {"recipient_id": PSID, "message_id": mid} and mid.startswith("m_")
    await world.twin.idle()
    [delivery] = world.hook.events("delivery")
    assert delivery["delivery"]["mids"] == [mid] and delivery["sender"] == {"id": PSID}
    assert delivery["recipient"] == {"id": PAGE}
    [read] = world.hook.events("read")
    assert read["read"]["watermark"] >= delivery["delivery"]["watermark"]
    for raw, headers in world.hook.raw:
        assert headers["x-hub-signature-256"] == sign(SECRET, raw)
        assert headers["x-hub-signature"] == sign_sha1(SECRET, raw)
    assert world.hook.bodies[0]["object"] == "page" and world.hook.bodies[0]["entry"][0]["id"] == PAGE
    [received] = world.sandbox.messages_for(USER)
    assert received.body == "hello" and received.channel == "MESSENGER" and received.sender == PAGE


async def test_user_message_event_shape(world: World) -> None:
    mid = await world.user_writes("Where is my order?")
    [event] = world.hook.events("message")
    assert event["message"] == {"mid": mid, "text": "Where is my order?"}
    assert event["sender"] == {"id": PSID} and event["recipient"] == {"id": PAGE}
    assert isinstance(event["timestamp"], int) and event["timestamp"] > 1_600_000_000_000


async def test_auth_and_unknown_page_errors(world: World) -> None:
    response = await world.send({"text": "x"}, token="wrong")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == ErrorCode.ACCESS_TOKEN and error["type"] == "OAuthException" and error["fbtrace_id"]
    response = await world.send({"text": "x"}, page="999")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == ErrorCode.INVALID_PARAMETER
    assert response.json()["error"]["error_subcode"] == 33
    query = await world.http.post(f"{world.base}/v21.0/me/messages", params={"access_token": TOKEN}, json={
        "recipient": {"id": PSID}, "sender_action": "typing_on"})
    assert query.status_code == 200 and query.json() == {"recipient_id": PSID}
    me = await world.http.get(f"{world.base}/v21.0/me", params={"access_token": TOKEN})
    assert me.json() == {"name": "Shoe Shop", "id": PAGE}
    profile = await world.http.get(f"{world.base}/v21.0/{PSID}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert profile.json()["id"] == PSID and profile.json()["last_name"] == USER


async def test_people_and_window(world: World) -> None:
    # never wrote to the page: no window yet, even with a tag
    response = await world.send({"text": "x"})
    assert response.json()["error"]["code"] == ErrorCode.PERMISSION_DENIED
    assert response.json()["error"]["error_subcode"] == Subcode.OUTSIDE_WINDOW
    response = await world.send({"text": "x"}, messaging_type="MESSAGE_TAG", tag="ACCOUNT_UPDATE")
    assert response.json()["error"]["error_subcode"] == Subcode.OUTSIDE_WINDOW
    await world.user_writes()
    assert (await world.send({"text": "x"}, messaging_type="UPDATE")).status_code == 200
    later = world.sandbox.clock() + 25 * 3600 * 1000
    world.twin.clock = lambda: later
    assert (await world.send({"text": "x"})).json()["error"]["error_subcode"] == Subcode.OUTSIDE_WINDOW
    assert (await world.send({"text": "x"}, messaging_type="MESSAGE_TAG", tag="ACCOUNT_UPDATE")).status_code == 200
    assert (await world.send({"text": "x"}, messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")).status_code == 200
    bad_tag = await world.send({"text": "x"}, messaging_type="MESSAGE_TAG", tag="PROMO")
    assert bad_tag.status_code == 400 and "tag" in bad_tag.json()["error"]["message"]
    # someone without Messenger, and someone gone
    nobody = await world.http.post(f"{world.base}/v21.0/{PAGE}/messages", headers={"Authorization": f"Bearer {TOKEN}"},
                                   json={"recipient": {"id": "psid-46709999999"}, "messaging_type": "RESPONSE",
                                         "message": {"text": "x"}})
    assert nobody.json()["error"]["error_subcode"] == Subcode.NO_MATCHING_USER
    world.sandbox.handset(USER).reachable = False
    gone = await world.send({"text": "x"}, messaging_type="MESSAGE_TAG", tag="ACCOUNT_UPDATE")
    assert gone.json()["error"] == {"message": "(#551) This person isn't available right now.",
                                    "type": "OAuthException", "code": 551, "error_subcode": 1545041,
                                    "fbtrace_id": gone.json()["error"]["fbtrace_id"]}


@pytest.mark.parametrize("body", [
    {"messaging_type": "RESPONSE", "message": {"text": "x"}},  # no recipient
    {"recipient": {"id": PSID}, "message": {"text": "x"}},  # no messaging_type
    {"recipient": {"id": PSID}, "messaging_type": "RESPONSE"},  # no message
    {"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": "x"}, "sender_action": "mark_seen"},
    {"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": "x" * 2001}},
])
async def test_malformed_requests(world: World, body: dict[str, Any]) -> None:
    await world.user_writes()
    response = await world.http.post(f"{world.base}/v21.0/{PAGE}/messages", json=body,
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == ErrorCode.INVALID_PARAMETER
    assert response.json()["error"]["message"].startswith("(#100) ")


async def test_taps_quick_reply_and_postback(world: World) -> None:
    await world.user_writes()
    await world.send({"text": "Size?", "quick_replies": [{"content_type": "text", "title": "Large", "payload": "L"}]})
    await world.send({"attachment": {"type": "template", "payload": {"template_type": "button", "text": "Go?",
                                                                     "buttons": [{"type": "postback", "title": "Yes",
                                                                                  "payload": "go"}]}}})
    handset = world.sandbox.handset(USER)
    await world.twin.handset_sends(handset, PAGE, body=None, postback="Large")  # by title
    await world.twin.handset_sends(handset, "Shoe Shop", body=None, postback="go")  # by page name
    quick = [m for m in world.hook.events("message") if "quick_reply" in m["message"]]
    assert [m["message"]["quick_reply"] for m in quick] == [{"payload": "L"}] and quick[0]["message"]["text"] == "Large"
    [postback] = world.hook.events("postback")
    assert postback["postback"]["payload"] == "go" and postback["postback"]["title"] == "Yes"
    assert postback["postback"]["mid"].startswith("m_")
    with pytest.raises(LookupError):
        await world.twin.handset_sends(handset, PAGE, body=None, postback="nothing")
    with pytest.raises(LookupError):
        await world.twin.handset_sends(handset, "no page", body="x", postback=None)


async def test_sandbox_api_taps_and_capability(world: World) -> None:
    url = world.base.removesuffix("/sandbox/platforms/messenger") + f"/sandbox/v1/handsets/{USER}/messages"
    response = await world.http.post(url, json={"channel": "MESSENGER", "to": PAGE, "body": "hello page"})
    assert response.status_code == 202 and response.json()["channel"] == "MESSENGER"
    assert world.hook.events("message")[-1]["message"]["text"] == "hello page"
    world.sandbox.handset(USER).capabilities = ["SMS"]
    refused = await world.http.post(url, json={"channel": "MESSENGER", "to": PAGE, "body": "x"})
    assert refused.status_code == 409


async def test_console_registration_by_token_verify_and_faults(world: World) -> None:
    response = await world.http.put(f"{world.base}/console/pages/me", json={"access_token": "other-token"})
    assert response.status_code == 200
    assert response.json()["id"] == page_id_for_token("other-token") and not response.json()["app_secret_set"]
    assert (await world.http.put(f"{world.base}/console/pages/{PAGE}", json={})).status_code == 400
    assert (await world.http.get(f"{world.base}/console/pages/nope")).status_code == 404
    unverified = await world.http.post(f"{world.base}/console/pages/{PAGE}/verify_webhook")
    assert unverified.status_code == 400  # the hook does not answer the challenge
    await world.user_writes()
    faults = await world.http.post(f"{world.base}/console/faults", json={"code": 1200, "count": 2})
    assert faults.json() == {"pending": [[1200, None], [1200, None]]}
    for _ in range(2):
        failed = await world.send({"text": "x"})
        assert failed.status_code == 500 and failed.json()["error"]["code"] == 1200
    assert (await world.send({"text": "x"})).status_code == 200
    settings = await world.http.put(f"{world.base}/console/settings", json={"read_receipts": False})
    assert settings.json()["read_receipts"] is False
