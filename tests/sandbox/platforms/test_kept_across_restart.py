"""What the platform twins keep across a sandbox restart (a data directory): their registrations,
conversation windows and the ids they gave, so that Tidings goes on working with a restarted
sandbox without configuring anything again — and a Telegram message id is never given twice
(Tidings takes a message id it has seen for a redelivery and drops the message) — and the RCS
messages still waiting for a user whose phone is off."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tidings.api.testing import serve_app
from tidings.sandbox import Sandbox
from tidings.sandbox.platforms import messenger, rbm, telegram, viber, whatsapp
from tidings.sandbox.state_file import state_path

USER = "+46701234567"
BOT_TOKEN = "5550001:sandbox-token_ABC"
PNID = "1234567"


def sandbox_at(data_dir: Path) -> Sandbox:
    sandbox = Sandbox(seed=1, data_dir=str(data_dir))
    for module in (whatsapp, messenger, telegram, viber, rbm):
        sandbox.register_platform(module.create_twin(sandbox))
    return sandbox


def twin(sandbox: Sandbox, channel: str) -> Any:
    return sandbox.platforms[channel]


async def test_registrations_windows_and_ids_are_kept(tmp_path: Path) -> None:
    taken: list[dict[str, Any]] = []

    async def receive(request: Request) -> Response:
        taken.append(json.loads(await request.body()))
        return Response("ok")

    async with serve_app(Starlette(routes=[Route("/hook", receive, methods=["POST"])])) as url:
        first = sandbox_at(tmp_path)
        await first.start()
        handset = first.handset(USER)
        handset.capabilities = ["SMS", "WHATSAPP", "MESSENGER", "TELEGRAM", "VIBER", "RCS"]
        wa = twin(first, "WHATSAPP")
        wa.register(PNID, access_token="tok", app_secret="s", webhook_url=f"{url}/hook")
        wa.templates.put({"name": "promo", "language": "sv", "components": [{"type": "BODY", "text": "Hej"}]})
        await wa.handset_sends(handset, PNID, body="hello", postback=None)  # opens the 24-hour window
        bot = twin(first, "TELEGRAM").bot(BOT_TOKEN)
        bot.webhook_url = f"{url}/hook"
        ids = [await twin(first, "TELEGRAM").handset_sends(handset, str(bot.bot_id), body=text, postback=None)
               for text in ("one", "two")]
        twin(first, "MESSENGER").register("page-1", access_token="ptok", webhook_url=f"{url}/hook")
        twin(first, "RCS").add_agent("shop@rbm.goog", "rtok")
        twin(first, "RCS").offline.add(USER)
        twin(first, "VIBER").unsubscribed.add(("acc-1", "user-1"))
        before = {channel: twin(first, channel).saved()
                  for channel in ("WHATSAPP", "MESSENGER", "VIBER", "RCS")}
        await first.stop()

        again = sandbox_at(tmp_path)
        await again.start()
        try:
            for channel, kept in before.items():
                assert twin(again, channel).saved() == kept, channel
            wa = twin(again, "WHATSAPP")
            assert wa.numbers[PNID].webhook_url == f"{url}/hook"  # nothing to register again
            assert wa.window_open(PNID, USER)  # a free-form reply is still allowed
            assert any(t["name"] == "promo" for t in wa.templates.all())
            tg = twin(again, "TELEGRAM")
            assert tg.bot(BOT_TOKEN).webhook_url == f"{url}/hook"
            updates_before = [u["update_id"] for u in taken if "update_id" in u]
            third = await tg.handset_sends(again.handset(USER), "5550001", body="three", postback=None)
            chat = ids[0].split(":")[0]
            assert [ids[0], ids[1], third] == [f"{chat}:1", f"{chat}:2", f"{chat}:3"]  # not 1 again
            update_ids = [u["update_id"] for u in taken if "update_id" in u]
            assert update_ids[-1] == updates_before[-1] + 1
        finally:
            await again.stop()


async def test_a_twin_whose_kept_state_cannot_be_read_starts_without_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = sandbox_at(tmp_path)
    await first.start()
    twin(first, "WHATSAPP").register(PNID, access_token="tok")
    twin(first, "RCS").add_agent("shop@rbm.goog", "rtok")
    await first.stop()
    path = Path(state_path(str(tmp_path)))
    document = json.loads(path.read_text())
    document["platforms"]["whatsapp"]["saved"]["windows"] = "not a list"
    path.write_text(json.dumps(document))

    again = sandbox_at(tmp_path)
    with caplog.at_level(logging.WARNING, "tidings.sandbox.state"):
        await again.start()
    try:
        assert "whatsapp twin kept cannot be read" in caplog.text
        assert twin(again, "WHATSAPP").numbers == {}  # nothing half taken
        assert "shop@rbm.goog" in twin(again, "RCS").agents  # the others as saved
    finally:
        await again.stop()


def rbm_api(sandbox: Sandbox) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=Starlette(routes=sandbox.routes())),
                             base_url="http://sandbox/sandbox/platforms/rbm",
                             headers={"Authorization": "Bearer rtok"})


async def test_an_rcs_message_waiting_for_an_offline_user_is_delivered_after_a_restart(tmp_path: Path) -> None:
    agent, events = "shop@rbm.goog", []

    async def receive(request: Request) -> Response:
        body = json.loads(await request.body())
        if "message" not in body:  # Google's webhook verification
            return PlainTextResponse(body["secret"])
        events.append(json.loads(base64.b64decode(body["message"]["data"])))
        return Response("ok")

    async with serve_app(Starlette(routes=[Route("/hook", receive, methods=["POST"])])) as url:
        first = sandbox_at(tmp_path)
        await first.start()
        first.handset(USER).capabilities = ["SMS", "RCS"]
        twin(first, "RCS").add_agent(agent, "rtok")
        await twin(first, "RCS").set_webhook(agent, f"{url}/hook", "client-token")
        twin(first, "RCS").offline.add(USER)
        message = {"params": {"messageId": "m-1", "agentId": agent},
                   "json": {"contentMessage": {"text": "Your table is ready"}}}
        async with rbm_api(first) as api:
            assert (await api.post(f"/v1/phones/{USER}/agentMessages", **message)).status_code == 200
        await first.stop()
        assert first.messages_for(USER) == []

        again = sandbox_at(tmp_path)
        await again.start()
        try:
            async with rbm_api(again) as api:
                reused = await api.post(f"/v1/phones/{USER}/agentMessages", **message)
                assert reused.status_code == 409, reused.text  # the id is still taken
                assert again.messages_for(USER) == []  # still waiting: the user is offline
                online = await api.put(f"/console/users/{USER}", json={"online": True})
                assert online.status_code == 200, online.text
            [delivered] = await again.wait_for_messages(USER, 1)
            assert (delivered.body, delivered.channel, delivered.message_id) == ("Your table is ready", "RCS", "m-1")
            async with asyncio.timeout(5):
                while not any(e.get("eventType") == "DELIVERED" and e["messageId"] == "m-1" for e in events):
                    await asyncio.sleep(0.01)
        finally:
            await again.stop()


async def test_an_rcs_message_revoked_before_a_restart_stays_revoked(tmp_path: Path) -> None:
    first = sandbox_at(tmp_path)
    await first.start()
    first.handset(USER).capabilities = ["SMS", "RCS"]
    twin(first, "RCS").add_agent("shop@rbm.goog", "rtok")
    twin(first, "RCS").offline.add(USER)
    async with rbm_api(first) as api:
        params = {"messageId": "m-1", "agentId": "shop@rbm.goog"}
        sent = await api.post(f"/v1/phones/{USER}/agentMessages", params=params,
                              json={"contentMessage": {"text": "Never mind"}})
        assert sent.status_code == 200, sent.text
        revoked = await api.delete(f"/v1/phones/{USER}/agentMessages/m-1", params={"agentId": "shop@rbm.goog"})
        assert revoked.status_code == 200, revoked.text
    await first.stop()

    again = sandbox_at(tmp_path)
    await again.start()
    try:
        assert twin(again, "RCS").waiting == {}
        twin(again, "RCS").offline.discard(USER)
        await asyncio.sleep(0.1)
        assert again.messages_for(USER) == []
    finally:
        await again.stop()


async def test_a_button_sent_before_a_restart_can_be_tapped_after_it(tmp_path: Path) -> None:
    """WhatsApp, Messenger, Telegram and Viber match a tap against the buttons they sent: those
    are kept, so a user answering a question asked before the restart is not refused."""
    taken: list[bytes] = []

    async def receive(request: Request) -> Response:
        taken.append(await request.body())
        return Response("ok")

    viber_token = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"
    async with serve_app(Starlette(routes=[Route("/hook", receive, methods=["POST"])])) as url:
        first = sandbox_at(tmp_path)
        await first.start()
        handset = first.handset(USER)
        handset.capabilities = ["SMS", "WHATSAPP", "MESSENGER", "TELEGRAM", "VIBER"]
        twin(first, "WHATSAPP").register(PNID, access_token="tok", webhook_url=f"{url}/hook")
        await twin(first, "WHATSAPP").handset_sends(handset, PNID, body="hi", postback=None)
        twin(first, "MESSENGER").register("page-1", access_token="ptok", webhook_url=f"{url}/hook")
        await twin(first, "MESSENGER").handset_sends(handset, "page-1", body="hi", postback=None)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=Starlette(routes=first.routes())),
                                     base_url="http://sandbox/sandbox/platforms") as api:
            sends = [
                await api.post(f"/whatsapp/v21.0/{PNID}/messages", headers={"Authorization": "Bearer tok"}, json={
                    "messaging_product": "whatsapp", "to": USER[1:], "type": "interactive", "interactive": {
                        "type": "button", "body": {"text": "Pick"},
                        "action": {"buttons": [{"type": "reply", "reply": {"id": "wa-red", "title": "Red"}}]}}}),
                await api.post("/messenger/v21.0/page-1/messages", headers={"Authorization": "Bearer ptok"}, json={
                    "recipient": {"id": "psid-" + USER[1:]}, "messaging_type": "RESPONSE", "message": {
                        "text": "Pick",
                        "quick_replies": [{"content_type": "text", "title": "Red", "payload": "fb-red"}]}}),
                await api.post(f"/telegram/bot{BOT_TOKEN}/setWebhook", json={"url": f"{url}/hook"}),
                await api.post(f"/telegram/bot{BOT_TOKEN}/sendMessage", json={
                    "chat_id": int(USER[1:]), "text": "Pick",
                    "reply_markup": {"inline_keyboard": [[{"text": "Red", "callback_data": "tg-red"}]]}}),
                await api.post("/viber/pa/set_webhook", headers={"X-Viber-Auth-Token": viber_token},
                               json={"url": f"{url}/hook"}),
                await api.post("/viber/pa/send_message", headers={"X-Viber-Auth-Token": viber_token}, json={
                    "receiver": "viber-" + USER[1:], "sender": {"name": "Acme"}, "type": "text", "text": "Pick",
                    "keyboard": {"Type": "keyboard", "Buttons": [{"ActionType": "reply", "ActionBody": "vb-red",
                                                                 "Text": "Red"}]}}),
            ]
        for sent in sends:
            assert sent.status_code == 200 and sent.json().get("status", 0) == 0, sent.text
        viber_uri = twin(first, "VIBER").account(viber_token).uri
        await first.stop()

        again = sandbox_at(tmp_path)
        await again.start()
        try:
            handset = again.handset(USER)
            taps = (("WHATSAPP", PNID, "wa-red"), ("MESSENGER", "page-1", "fb-red"),
                    ("TELEGRAM", str(bot_id(BOT_TOKEN)), "tg-red"), ("VIBER", viber_uri, "vb-red"))
            for channel, to, postback in taps:
                before = len(taken)
                await twin(again, channel).handset_sends(handset, to, body=None, postback=postback)
                assert any(postback.encode() in body for body in taken[before:]), channel
        finally:
            await again.stop()


def bot_id(token: str) -> int:
    return int(token.split(":")[0])
