"""The WhatsApp Cloud API twin on its own: Graph wire format, errors, statuses and console."""

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
from tidings.channels.whatsapp.graph import ErrorCode, sign, sign_sha1
from tidings.sandbox import Sandbox
from tidings.sandbox.platforms import whatsapp
from tidings.sandbox.platforms.whatsapp import WhatsAppTwin, create_twin

PNID = "1234567"
TOKEN = "tok"
SECRET = "app-secret"
USER = "+46701234567"


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

    def statuses(self) -> list[dict[str, Any]]:
        return [s for b in self.bodies for e in b["entry"] for c in e["changes"] for s in c["value"].get("statuses", [])]

    def messages(self) -> list[dict[str, Any]]:
        return [m for b in self.bodies for e in b["entry"] for c in e["changes"] for m in c["value"].get("messages", [])]


@dataclass
class World:
    sandbox: Sandbox
    twin: WhatsAppTwin
    http: httpx.AsyncClient
    base: str
    hook: Hook

    async def send(self, payload: dict[str, Any], *, token: str = TOKEN, pnid: str = PNID) -> httpx.Response:
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": USER[1:], **payload}
        return await self.http.post(f"{self.base}/v21.0/{pnid}/messages", json=body,
                                    headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
async def world() -> AsyncIterator[World]:
    sandbox = Sandbox(seed=1)
    twin = create_twin(sandbox)
    sandbox.register_platform(twin)
    hook = Hook()
    app = Starlette(routes=[*sandbox.routes(), Route("/hook", hook.receive, methods=["POST"])])
    await twin.start()
    async with serve_app(app) as url, httpx.AsyncClient(timeout=5.0) as http:
        base = f"{url}/sandbox/platforms/whatsapp"
        response = await http.put(f"{base}/console/phone_numbers/{PNID}", json={
            "access_token": TOKEN, "app_secret": SECRET, "webhook_url": f"{url}/hook", "verify_token": "v"})
        assert response.status_code == 200
        handset = sandbox.handset(USER)
        handset.capabilities = ["SMS", "WHATSAPP"]
        yield World(sandbox, twin, http, base, hook)
        await twin.stop()


async def test_send_answers_graph_shape_and_statuses_follow_signed(world: World) -> None:
    await world.twin.handset_sends(world.sandbox.handset(USER), PNID, body="hi", postback=None)
    response = await world.send({"type": "text", "text": {"body": "hello"}})
    assert response.status_code == 200
    body = response.json()
    wamid = body["messages"][0]["id"]
    assert body == {"messaging_product": "whatsapp", "contacts": [{"input": USER[1:], "wa_id": USER[1:]}],
                    "messages": [{"id": wamid}]}
    await world.twin.idle()
    assert [s["status"] for s in world.hook.statuses()] == ["sent", "delivered", "read"]
    sent = world.hook.statuses()[0]
    assert sent["recipient_id"] == USER[1:] and sent["pricing"]["category"] == "service"
    for raw, headers in world.hook.raw:
        assert headers["x-hub-signature-256"] == sign(SECRET, raw)
        assert headers["x-hub-signature"] == sign_sha1(SECRET, raw)
    change = world.hook.bodies[0]["entry"][0]["changes"][0]
    assert change["field"] == "messages" and change["value"]["metadata"]["phone_number_id"] == PNID
    assert world.sandbox.messages_for(USER)[-1].body == "hello"


async def test_auth_and_unknown_number_errors(world: World) -> None:
    response = await world.send({"type": "text", "text": {"body": "x"}}, token="wrong")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == ErrorCode.ACCESS_TOKEN_EXPIRED and error["type"] == "OAuthException" and error["fbtrace_id"]
    response = await world.send({"type": "text", "text": {"body": "x"}}, pnid="999")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == ErrorCode.INVALID_PARAMETER
    assert response.json()["error"]["error_subcode"] == 33


@pytest.mark.parametrize(("payload", "code"), [
    ({"type": "interactive", "interactive": {"type": "button", "body": {"text": "b"}, "action": {"buttons": [
        {"type": "reply", "reply": {"id": str(i), "title": str(i)}} for i in range(4)]}}}, ErrorCode.INVALID_PARAMETER_VALUE),
    ({"type": "interactive", "interactive": {"type": "button", "body": {"text": "b"}, "action": {"buttons": [
        {"type": "reply", "reply": {"id": "1", "title": "x" * 21}}]}}}, ErrorCode.INVALID_PARAMETER_VALUE),
    ({"type": "interactive", "interactive": {"type": "list", "body": {"text": "b"}, "action": {"button": "Go", "sections": [
        {"rows": [{"id": str(i), "title": str(i)} for i in range(11)]}]}}}, ErrorCode.INVALID_PARAMETER_VALUE),
    ({"type": "text", "text": {}}, ErrorCode.MISSING_PARAMETER),
    ({"type": "image", "image": {}}, ErrorCode.MISSING_PARAMETER),
    ({"type": "hologram"}, ErrorCode.UNSUPPORTED_TYPE),
    ({"type": "template", "template": {"name": "nope", "language": {"code": "en_US"}}}, ErrorCode.TEMPLATE_DOES_NOT_EXIST),
    ({"type": "template", "template": {"name": "order_update", "language": {"code": "en_US"},
                                       "components": [{"type": "body", "parameters": [{"type": "text", "text": "a"}]}]}},
     ErrorCode.TEMPLATE_PARAM_COUNT),
    ({"type": "template", "template": {"name": "appointment_reminder", "language": {"code": "en_US"}, "components": [
        {"type": "header", "parameters": [{"type": "text", "text": "x"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]}}, 132012),
])
async def test_cloud_api_refusals(world: World, payload: dict[str, Any], code: int) -> None:
    response = await world.send(payload)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    await world.twin.idle()
    assert world.hook.bodies == []


async def test_messaging_product_required(world: World) -> None:
    response = await world.http.post(f"{world.base}/v21.0/{PNID}/messages", json={"to": "4670", "type": "text"},
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 400 and response.json()["error"]["code"] == ErrorCode.INVALID_PARAMETER


async def test_window_and_whatsapp_capability_enforced_by_the_platform(world: World) -> None:
    closed = await world.send({"type": "text", "text": {"body": "hi"}})
    assert closed.status_code == 200  # accepted, then failed by webhook as on the real platform
    world.sandbox.handset("+46709999999")
    nowa = await world.send({"type": "text", "text": {"body": "hi"}} | {"to": "46709999999"})
    await world.twin.idle()
    failures = {s["id"]: s["errors"][0]["code"] for s in world.hook.statuses() if s["status"] == "failed"}
    assert failures == {closed.json()["messages"][0]["id"]: ErrorCode.RE_ENGAGEMENT,
                        nowa.json()["messages"][0]["id"]: ErrorCode.UNDELIVERABLE}
    assert world.sandbox.messages_for(USER) == []
    template = await world.send({"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}})
    assert template.json()["messages"][0]["message_status"] == "accepted"
    await world.twin.idle()
    [received] = world.sandbox.messages_for(USER)
    assert received.body.startswith("Hello World\nWelcome and congratulations!!")


async def test_window_closes_after_24_hours() -> None:
    now = [1_700_000_000_000]
    sandbox = Sandbox(seed=1, clock=lambda: now[0])
    twin = create_twin(sandbox)
    twin.register(PNID, access_token=TOKEN)
    handset = sandbox.handset(USER)
    handset.capabilities = ["WHATSAPP"]
    await twin.handset_sends(handset, PNID, body="hi", postback=None)
    assert twin.window_open(PNID, USER)
    now[0] += 24 * 3600 * 1000 - 1
    assert twin.window_open(PNID, USER)
    now[0] += 1
    assert not twin.window_open(PNID, USER)
    await twin.stop()


async def test_console_templates_and_settings(world: World) -> None:
    listed = (await world.http.get(f"{world.base}/console/templates")).json()["data"]
    assert {"hello_world", "order_update"} <= {t["name"] for t in listed}
    put = await world.http.put(f"{world.base}/console/templates/welcome/sv", json={
        "category": "MARKETING", "components": [{"type": "BODY", "text": "Hej {{1}}!"},
                                                {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Tack"}]}]})
    assert put.status_code == 200 and put.json()["status"] == "APPROVED"
    settings = await world.http.put(f"{world.base}/console/settings", json={"read_receipts": False, "delivered_after_ms": 0})
    assert settings.json()["read_receipts"] is False
    response = await world.send({"type": "template", "template": {"name": "welcome", "language": {"code": "sv"},
                                                                  "components": [{"type": "body", "parameters": [
                                                                      {"type": "text", "text": "Ann"}]}]}})
    wamid = response.json()["messages"][0]["id"]
    await world.twin.idle()
    assert [s["status"] for s in world.hook.statuses()] == ["sent", "delivered"]
    assert world.hook.statuses()[0]["pricing"]["category"] == "marketing"
    assert world.sandbox.messages_for(USER)[-1].body == "Hej Ann!\n[Tack]"
    await world.twin.handset_sends(world.sandbox.handset(USER), PNID, body=None, postback="Tack")
    [tap] = world.hook.messages()
    assert tap["type"] == "button" and tap["button"] == {"payload": "Tack", "text": "Tack"}
    assert tap["context"]["id"] == wamid
    bad = await world.http.put(f"{world.base}/console/templates/broken/en_US", json={"components": []})
    assert bad.status_code == 400


async def test_handset_side_lookups(world: World) -> None:
    handset = world.sandbox.handset(USER)
    with pytest.raises(LookupError):
        await world.twin.handset_sends(handset, "nobody", body="hi", postback=None)
    with pytest.raises(LookupError):
        await world.twin.handset_sends(handset, PNID, body=None, postback="never-sent")
    display = (await world.http.get(f"{world.base}/console/phone_numbers/{PNID}")).json()["display_phone_number"]
    await world.twin.handset_sends(handset, "+" + display, body="by display number", postback=None)
    [message] = world.hook.messages()
    assert message["text"] == {"body": "by display number"} and message["from"] == USER[1:]
    contacts = world.hook.bodies[0]["entry"][0]["changes"][0]["value"]["contacts"]
    assert contacts == [{"profile": {"name": USER}, "wa_id": USER[1:]}]


async def test_webhook_verification_failure_is_reported(world: World) -> None:
    response = await world.http.post(f"{world.base}/console/phone_numbers/{PNID}/verify_webhook")
    assert response.status_code == 400  # /hook answers POST only: the GET handshake fails
    assert response.json()["error"]["code"] == 2200


async def test_media_node_needs_a_token(world: World) -> None:
    await world.twin.handset_sends_media(world.sandbox.handset(USER), PNID, url="https://c/v.mp4", mime_type="video/mp4")
    [message] = world.hook.messages()
    media_id = message["video"]["id"]
    ok = await world.http.get(f"{world.base}/v21.0/{media_id}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.json()["url"] == "https://c/v.mp4" and ok.json()["mime_type"] == "video/mp4"
    denied = await world.http.get(f"{world.base}/v21.0/{media_id}")
    assert denied.status_code == 401


async def test_only_the_newest_media_can_be_looked_up(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(whatsapp, "MAX_REMEMBERED", 2)
    for n in range(3):
        await world.twin.handset_sends_media(world.sandbox.handset(USER), PNID, url=f"https://c/{n}.png",
                                             mime_type="image/png")
    ids = [message["image"]["id"] for message in world.hook.messages()]
    auth = {"Authorization": f"Bearer {TOKEN}"}
    forgotten = await world.http.get(f"{world.base}/v21.0/{ids[0]}", headers=auth)
    assert forgotten.status_code == 400 and forgotten.json()["error"]["error_subcode"] == 33
    for n in (1, 2):
        kept = await world.http.get(f"{world.base}/v21.0/{ids[n]}", headers=auth)
        assert kept.json()["url"] == f"https://c/{n}.png"


async def test_webhook_retries_then_counts_a_failure() -> None:
    sandbox = Sandbox(seed=1)
    twin = create_twin(sandbox)
    attempts: list[int] = []

    async def flaky(request: Request) -> Response:
        attempts.append(1)
        return Response("no", status_code=500 if len(attempts) < 2 else 200)

    app = Starlette(routes=[Route("/hook", flaky, methods=["POST"])])
    async with serve_app(app) as url:
        twin.register(PNID, access_token=TOKEN, app_secret=SECRET, webhook_url=f"{url}/hook")
        handset = sandbox.handset(USER)
        handset.capabilities = ["WHATSAPP"]
        await twin.handset_sends(handset, PNID, body="hi", postback=None)
        assert len(attempts) == 2 and twin.webhook_failures == 0
    await twin.stop()
