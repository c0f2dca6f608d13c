"""Messaging apps across a `tidings serve` restart (real processes, the same port and data
directory). No WhatsApp status is lost: a message the sandbox's WhatsApp twin accepted and had
not delivered when SIGTERM came reaches the handset during the stop, its statuses (which the
stopped API could not take) are saved, and after the restart they arrive — the message ends
DELIVERED on WhatsApp, without falling back to SMS. No Telegram message is lost: the restarted
twin goes on from the message ids it gave (given again, Tidings took them for redeliveries)."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import httpx

from tests.pipeline.test_cli_serve import CLI, Served, clean_env, free_port, parse_welcome

PNID = "109876543210"
NUMBER = "+46701239001"


def credentials(service_plan_id: str) -> list[dict[str, Any]]:
    return [{"channel": "SMS", "static_bearer": {"claimed_identity": service_plan_id, "token": "x",
                                                 "sender": "+46700000099"}},
            {"channel": "WHATSAPP", "static_bearer": {"claimed_identity": PNID, "token": "wa-token"},
             "callback_secret": "wa-app-secret"}]

TEMPLATE = {"template_message": {"channel_template": {"WHATSAPP": {
    "template_id": "order_update", "language_code": "EN_US",
    "parameters": {"body[1]text": "Ann", "body[2]text": "A-42", "button[2]url[1]text": "A-42",
                   "button[0]quick_reply[1]payload": "track:A-42"}}},
    "omni_template": {"template_id": "order_update", "version": "1", "language_code": "en", "parameters": {}}}}


async def serve(port: int, data_dir: Path) -> Served:
    process = await asyncio.create_subprocess_exec(
        CLI, "serve", "--port", str(port), "--smpp-port", "0", "--data-dir", str(data_dir),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=clean_env())
    return Served(process, f"http://127.0.0.1:{port}")


async def stop(served: Served) -> int:
    if served.process.returncode is None:
        served.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(served.process.wait(), 20.0)
        except TimeoutError:
            served.process.kill()
            await served.process.wait()
    return served.process.returncode or 0


async def oauth(http: httpx.AsyncClient, base: str, creds: dict[str, str]) -> dict[str, str]:
    token = (await http.post(f"{base}/oauth2/token", auth=(creds["key_id"], creds["key_secret"]),
                             data={"grant_type": "client_credentials"})).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def message(http: httpx.AsyncClient, api: str, headers: dict[str, str], message_id: str,
                  done: Any, timeout: float = 30.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            body: dict[str, Any] = (await http.get(f"{api}/messages/{message_id}", headers=headers)).json()
            if done(body):
                return body
            await asyncio.sleep(0.1)


async def test_statuses_owed_at_a_serve_restart_arrive_after_it(tmp_path: Path) -> None:
    port, data_dir = free_port(), tmp_path / "data"
    first = await serve(port, data_dir)
    again: Served | None = None
    try:
        creds, _ = parse_welcome(await first.read_until("Then read the handset"))
        base, twin = first.base_url, f"{first.base_url}/sandbox/platforms/whatsapp"
        api = f"{base}/v1/projects/{creds['project_id']}"
        async with httpx.AsyncClient(timeout=10.0) as http:
            headers = await oauth(http, base, creds)
            app = await http.post(f"{api}/apps", headers=headers, json={
                "display_name": "shop", "channel_credentials": credentials(creds["service_plan_id"])})
            assert app.status_code == 200, app.text
            async with asyncio.timeout(10):  # Tidings registers the app's webhook with the twin
                while (await http.get(f"{twin}/console/phone_numbers/{PNID}")).status_code != 200:
                    await asyncio.sleep(0.05)
            slow = await http.put(f"{twin}/console/settings", json={"delivered_after_ms": 600_000})
            assert slow.json()["delivered_after_ms"] == 600_000  # ten minutes on the way
            caps = await http.put(f"{base}/sandbox/v1/handsets/{NUMBER[1:]}",
                                  json={"capabilities": ["SMS", "WHATSAPP"]})
            assert caps.status_code == 200, caps.text
            contact = await http.post(f"{api}/contacts", headers=headers, json={
                "display_name": "Ann", "metadata": json.dumps({"whatsapp_opt_in": True}),
                "channel_identities": [{"channel": "WHATSAPP", "identity": NUMBER},
                                       {"channel": "SMS", "identity": NUMBER}]})
            sent = await http.post(f"{api}/messages:send", headers=headers, json={
                "app_id": app.json()["id"], "message": TEMPLATE, "recipient": {"contact_id": contact.json()["id"]},
                "channel_priority_order": ["WHATSAPP", "SMS"]})
            assert sent.status_code == 200, sent.text
            message_id = sent.json()["message_id"]
            await message(http, api, headers, message_id,
                          lambda m: [a["channel"] for a in m["delivery"]["attempts"]] == ["WHATSAPP"]
                          and m["delivery"]["attempts"][0]["state"] != "PENDING")

        assert await stop(first) == 0
        saved = json.loads((data_dir / "sandbox" / "state.json").read_text())
        assert len(saved["platforms"]["whatsapp"]["callbacks"]) == 3  # sent, delivered, read: the API was down

        again = await serve(port, data_dir)
        await again.read_until("Then read the handset")
        async with httpx.AsyncClient(timeout=10.0) as http:
            headers = await oauth(http, base, creds)
            done = await message(http, api, headers, message_id,
                                 lambda m: m["delivery"]["status"] in ("DELIVERED", "READ"))
            assert [(a["channel"], a["state"]) for a in done["delivery"]["attempts"]][0][0] == "WHATSAPP"
            assert len(done["delivery"]["attempts"]) == 1  # no fallback to SMS
            inbox = (await http.get(f"{base}/sandbox/v1/handsets/{NUMBER[1:]}/messages")).json()["messages"]
            assert ["Hi Ann, your order A-42 has shipped." in m["body"] for m in inbox] == [True]
    finally:
        await stop(first)
        if again is not None:
            await stop(again)


TG_BOT = "7000001"
TG_CREDS = {"channel": "TELEGRAM", "telegram_credentials": {"token": f"{TG_BOT}:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"}}


async def inbound_texts(http: httpx.AsyncClient, api: str, headers: dict[str, str], texts: list[str],
                        timeout: float = 20.0) -> None:
    """Wait until every text is among the project's messages."""
    async with asyncio.timeout(timeout):
        while True:
            listed = json.dumps((await http.get(f"{api}/messages", params={"page_size": 100},
                                                headers=headers)).json())
            if all(f'"{text}"' in listed for text in texts):
                return
            await asyncio.sleep(0.1)


async def test_telegram_messages_after_a_serve_restart_are_not_taken_for_redeliveries(tmp_path: Path) -> None:
    port, data_dir = free_port(), tmp_path / "data"
    servers = [await serve(port, data_dir)]
    try:
        creds, _ = parse_welcome(await servers[0].read_until("Then read the handset"))
        base = servers[0].base_url
        api = f"{base}/v1/projects/{creds['project_id']}"
        handset = f"{base}/sandbox/v1/handsets/{NUMBER[1:]}"
        async with httpx.AsyncClient(timeout=10.0) as http:
            headers = await oauth(http, base, creds)
            app = await http.post(f"{api}/apps", headers=headers, json={
                "display_name": "bot", "channel_credentials": [*credentials(creds["service_plan_id"])[:1], TG_CREDS]})
            assert app.status_code == 200, app.text
            assert (await http.put(handset, json={"capabilities": ["SMS", "TELEGRAM"]})).status_code == 200
            async with asyncio.timeout(10):  # Tidings sets the bot's webhook (the bot is made then)
                while (await http.post(f"{handset}/messages", json={
                        "channel": "TELEGRAM", "to": TG_BOT, "body": "first one"})).status_code != 202:
                    await asyncio.sleep(0.05)
            wrote = await http.post(f"{handset}/messages", json={"channel": "TELEGRAM", "to": TG_BOT,
                                                                 "body": "second one"})
            assert wrote.status_code == 202, wrote.text
            await inbound_texts(http, api, headers, ["first one", "second one"])

        assert await stop(servers[0]) == 0
        servers.append(await serve(port, data_dir))
        await servers[1].read_until("Then read the handset")
        async with httpx.AsyncClient(timeout=10.0) as http:
            headers = await oauth(http, base, creds)
            wrote = await http.post(f"{handset}/messages", json={"channel": "TELEGRAM", "to": TG_BOT,
                                                                 "body": "after the restart"})
            assert wrote.status_code == 202, wrote.text
            await inbound_texts(http, api, headers, ["first one", "second one", "after the restart"])
    finally:
        for served in servers:
            await stop(served)
