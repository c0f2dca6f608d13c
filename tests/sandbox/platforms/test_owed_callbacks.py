"""Twins lose no callback: one their webhook does not take is tried again later; a stop finishes
the work after sends at once (the handset gets the message, every status is posted or owed) and
the sandbox saves what is owed, which the next start posts — signed as when first sent."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tidings.api.testing import serve_app
from tidings.channels.whatsapp.graph import SIGNATURE_HEADER, sign
from tidings.sandbox import Sandbox
from tidings.sandbox.platforms import rbm, whatsapp
from tidings.sandbox.state_file import state_path

PNID = "1234567"
TOKEN = "tok"
SECRET = "app-secret"
USER = "+46701234567"
AGENT = "shop@rbm.goog"
CLIENT_TOKEN = "ct-shop"


@dataclass
class Hook:
    """A webhook that answers 503 while `down`; keeps each request it took (body, headers)."""

    down: bool = False
    taken: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        if body.startswith(b'{"clientToken"'):  # RBM's webhook handshake
            return PlainTextResponse(orjson.loads(body)["secret"])
        if self.down:
            return PlainTextResponse("restarting", 503)
        self.taken.append((body, dict(request.headers)))
        return Response("ok")

    def statuses(self) -> list[str]:
        return [s["status"] for body, _ in self.taken for e in orjson.loads(body)["entry"]
                for c in e["changes"] for s in c["value"].get("statuses", [])]

    async def wait(self, count: int, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.taken) < count:
                await asyncio.sleep(0.01)


@pytest.fixture
async def hook() -> AsyncIterator[tuple[Hook, str]]:
    receiver = Hook()
    async with serve_app(Starlette(routes=[Route("/hook", receiver.receive, methods=["POST"])])) as url:
        yield receiver, f"{url}/hook"


async def started(data_dir: Path | None, **rbm_options: Any) -> Sandbox:
    sandbox = Sandbox(seed=1, data_dir=str(data_dir) if data_dir else None)
    sandbox.register_platform(whatsapp.create_twin(sandbox))
    sandbox.register_platform(rbm.create_twin(sandbox, **rbm_options))
    await sandbox.start()
    return sandbox


def twins(sandbox: Sandbox) -> tuple[whatsapp.WhatsAppTwin, rbm.RbmTwin]:
    wa, rcs = sandbox.platforms["WHATSAPP"], sandbox.platforms["RCS"]
    assert isinstance(wa, whatsapp.WhatsAppTwin) and isinstance(rcs, rbm.RbmTwin)
    return wa, rcs


async def whatsapp_text(sandbox: Sandbox, hook: tuple[Hook, str], text: str) -> str:
    """A business text to USER through the twin's Graph API, the user having written first (that
    callback taken), then the webhook down; its wamid."""
    receiver, hook_url = hook
    wa, _ = twins(sandbox)
    wa.register(PNID, access_token=TOKEN, app_secret=SECRET, webhook_url=hook_url)
    handset = sandbox.handset(USER)
    handset.capabilities = ["SMS", "WHATSAPP", "RCS"]
    await wa.handset_sends(handset, PNID, body="hello", postback=None)
    assert len(receiver.taken) == 1
    receiver.down = True
    async with serve_app(Starlette(routes=sandbox.routes())) as url, httpx.AsyncClient() as http:
        response = await http.post(f"{url}/sandbox/platforms/whatsapp/v21.0/{PNID}/messages", json={
            "messaging_product": "whatsapp", "to": USER[1:], "type": "text", "text": {"body": text}},
            headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return str(response.json()["messages"][0]["id"])


async def test_a_status_the_webhook_refused_arrives_when_it_is_back(hook: tuple[Hook, str]) -> None:
    receiver, url = hook
    sandbox = await started(None)
    wa, _ = twins(sandbox)
    wa.callbacks.first_delay_s = 0.05
    try:
        await whatsapp_text(sandbox, hook, "first")
        await wa.idle()
        assert wa.webhook_failures == 3 and len(wa.callbacks) == 3  # sent, delivered, read: owed
        receiver.down = False
        await receiver.wait(4)
        assert receiver.statuses() == ["sent", "delivered", "read"]
        async with asyncio.timeout(5):  # the last answer reaches the retrier after the receiver has it
            while len(wa.callbacks):
                await asyncio.sleep(0.01)
        for body, headers in receiver.taken:
            assert headers[SIGNATURE_HEADER.lower()] == sign(SECRET, body)
    finally:
        await sandbox.stop()


async def test_a_stop_saves_what_is_owed_and_the_next_start_posts_it(hook: tuple[Hook, str],
                                                                      tmp_path: Path) -> None:
    receiver, url = hook
    sandbox = await started(tmp_path)
    wa, _ = twins(sandbox)
    wa.delivered_after_ms = 600_000  # ten minutes on the way: only a stop that waits for nothing ends soon
    wamid = await whatsapp_text(sandbox, hook, "on its way")  # the webhook down: Tidings is stopping too
    began = time.monotonic()
    await sandbox.stop()
    assert time.monotonic() - began < 3.0
    assert [m.body for m in sandbox.handset(USER).inbox] == ["on its way"]  # the accepted message arrived
    saved = json.loads(Path(state_path(str(tmp_path))).read_text())
    assert len(saved["platforms"]["whatsapp"]["callbacks"]) == 3

    receiver.down = False
    again = await started(tmp_path)
    try:
        await receiver.wait(4)
        assert receiver.statuses() == ["sent", "delivered", "read"]
        statuses = [s for body, _ in receiver.taken[1:] for e in orjson.loads(body)["entry"]
                    for c in e["changes"] for s in c["value"]["statuses"]]
        assert {s["id"] for s in statuses} == {wamid}
        for body, headers in receiver.taken:
            assert headers[SIGNATURE_HEADER.lower()] == sign(SECRET, body)
        assert not Path(state_path(str(tmp_path))).exists()  # taken: a crash now would not post them twice
    finally:
        await again.stop()


async def test_rbm_events_queued_at_a_stop_are_pushed_after_the_next_start(hook: tuple[Hook, str],
                                                                           tmp_path: Path) -> None:
    receiver, url = hook
    sandbox = await started(tmp_path, webhook_attempts=2, webhook_backoff_s=0.01)
    _, rcs = twins(sandbox)
    rcs.add_agent(AGENT, "tok-shop")
    await rcs.set_webhook(AGENT, url, CLIENT_TOKEN)
    handset = sandbox.handset(USER)
    handset.capabilities = ["SMS", "RCS"]
    receiver.down = True
    for text in ("one", "two", "three"):
        await rcs.handset_sends(handset, AGENT, body=text, postback=None)
    await sandbox.stop()
    saved = json.loads(Path(state_path(str(tmp_path))).read_text())
    assert len(saved["platforms"]["rbm"]["callbacks"]) == 3

    receiver.down = False
    again = await started(tmp_path)
    try:
        await receiver.wait(3)
        pushed = []
        for body, headers in receiver.taken:
            data = base64.b64decode(orjson.loads(body)["message"]["data"])
            expected = base64.b64encode(hmac.new(CLIENT_TOKEN.encode(), data, hashlib.sha512).digest()).decode()
            assert headers["x-goog-signature"] == expected
            pushed.append(orjson.loads(data)["text"])
        assert sorted(pushed) == ["one", "three", "two"]
    finally:
        await again.stop()
