"""Keywords and inbound content safety on conversation channels, end to end in both profiles,
through the HTTP APIs and the sandbox REST API only: STOP over WhatsApp and Telegram records the
opt-out and the confirmation reaches the handset on the same channel (even though the person
just opted out); a later engagement message is refused; a phishing-looking inbound carries the
content-safety verdict in GET message and in the MESSAGE_INBOUND callback."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from tidings.policy.keywords import DEFAULT_REPLIES, KeywordKind
from tidings.testing.platform import Platform
from tidings.webhooks.testing import WebhookReceiver

from .helpers import Session, make_app, session, wait_message
from .test_e2e import hooks  # noqa: F401
from .test_e2e_apps import TG_CREDS, TG_TOKEN, handset_writes
from .test_e2e_whatsapp import PNID, WA_CREDS, handset_caps, registered

STOP_REPLY = DEFAULT_REPLIES["en"][KeywordKind.OPT_OUT]


async def inbox(platform: Platform, http: httpx.AsyncClient, number: str, channel: str,
                count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    async with asyncio.timeout(timeout):
        while True:
            r = await http.get(f"{platform.base_url}/sandbox/v1/handsets/{number.lstrip('+')}/messages",
                               params={"channel": channel})
            assert r.status_code == 200, r.text
            messages: list[dict[str, Any]] = r.json()["messages"]
            if len(messages) >= count:
                return messages
            await asyncio.sleep(0.05)


async def consent_check(s: Session, identity: str, channel: str, purpose: str = "engagement") -> dict[str, Any]:
    r = await s.http.get(
        f"{s.platform.base_url}/tidings/v1/projects/{s.platform.creds.project_id}/consents/{identity}/check",
        params={"channel": channel, "purpose": purpose}, headers=s.headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def telegram_ready(platform: Platform) -> None:
    """Wait for Tidings to set the bot's webhook (the engine configures new apps every second)."""
    twin = platform.sandbox.platforms["TELEGRAM"]
    bot_id = int(TG_TOKEN.split(":")[0])
    async with asyncio.timeout(10):
        while not (bot_id in twin.bots and twin.bots[bot_id].webhook_url):
            await asyncio.sleep(0.05)


async def inbound_bodies(hooks: WebhookReceiver, count: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(15):
        while True:
            bodies = [orjson.loads(r.body) for r in hooks.requests]
            found = [b for b in bodies if "message" in b]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)


async def test_stop_over_whatsapp(platform: Platform, http: httpx.AsyncClient, hooks: WebhookReceiver) -> None:
    s = await session(platform, http)
    app_id = await make_app(s, hooks.url, extra_credentials=[WA_CREDS])
    number = "+46701235101"
    await handset_caps(platform, http, number, ["SMS", "WHATSAPP"])
    await registered(platform, http)
    await handset_writes(platform, http, number, channel="WHATSAPP", to=PNID, body="Stop")
    [reply] = await inbox(platform, http, number, "WHATSAPP", 1)
    assert reply["body"] == STOP_REPLY
    check = await consent_check(s, number, "WHATSAPP")
    assert check["allowed"] is False and check["reason_code"] == "consent_opted_out"
    assert (await consent_check(s, number, "SMS", "information"))["allowed"] is True  # WhatsApp only
    assert (await consent_check(s, number, "WHATSAPP", "information"))["allowed"] is False

    r = await http.get(f"{platform.base_url}/tidings/v1/projects/{platform.creds.project_id}/consents/{number}",
                       headers=s.headers)
    assert r.status_code == 200, r.text
    [event] = r.json()["history"]
    assert event["source"] == "keyword" and event["channel"] == "WHATSAPP" and event["action"] == "opt_out"
    reply_id = event["proof"]["reply_ref"]
    # The confirmation is a conversation message of the app, delivered on WhatsApp.
    msg = await wait_message(s, reply_id, ("DELIVERED", "READ"))
    assert msg["app_message"] == {"text_message": {"text": STOP_REPLY}}
    assert [(a["channel"], a["identity"]) for a in msg["delivery"]["attempts"]] == [("WHATSAPP", number)]
    [inbound] = await inbound_bodies(hooks, 1)
    assert inbound["message"]["contact_message"] == {"text_message": {"text": "Stop"}}
    assert event["proof"]["message_id"] == inbound["message"]["id"]

    # Marketing to the person on WhatsApp is now refused.
    r = await s.post("/messages:send", {
        "app_id": app_id, "message": {"text_message": {"text": "Sale today"}},
        "message_metadata": '{"purpose": "engagement"}', "channel_priority_order": ["WHATSAPP"],
        "recipient": {"identified_by": {"channel_identities": [{"channel": "WHATSAPP", "identity": number}]}}})
    assert r.status_code == 200, r.text
    refused = await wait_message(s, r.json()["message_id"], ("FAILED",))
    assert refused["delivery"]["attempts"][0]["reason"].startswith("CONSENT_OPTED_OUT")
    assert len(await inbox(platform, http, number, "WHATSAPP", 1)) == 1


async def test_stop_and_start_over_telegram(platform: Platform, http: httpx.AsyncClient,
                                            hooks: WebhookReceiver) -> None:
    s = await session(platform, http)
    await make_app(s, hooks.url, extra_credentials=[TG_CREDS])
    number = "+46701235102"
    chat_id = number.lstrip("+")
    await handset_caps(platform, http, number, ["SMS", "TELEGRAM"])
    await telegram_ready(platform)
    await handset_writes(platform, http, number, channel="TELEGRAM", to=TG_TOKEN.split(":")[0], body="STOP")
    [reply] = await inbox(platform, http, number, "TELEGRAM", 1)
    assert reply["body"] == STOP_REPLY
    assert (await consent_check(s, chat_id, "TELEGRAM"))["reason_code"] == "consent_opted_out"
    await handset_writes(platform, http, number, channel="TELEGRAM", to=TG_TOKEN.split(":")[0], body="start")
    replies = await inbox(platform, http, number, "TELEGRAM", 2)
    assert replies[1]["body"] == DEFAULT_REPLIES["en"][KeywordKind.OPT_IN]
    assert (await consent_check(s, chat_id, "TELEGRAM", "information"))["allowed"] is True
    # An ordinary message is no keyword: nothing is sent back.
    await handset_writes(platform, http, number, channel="TELEGRAM", to=TG_TOKEN.split(":")[0], body="please stop")
    await inbound_bodies(hooks, 3)
    await asyncio.sleep(0.3)
    assert len(await inbox(platform, http, number, "TELEGRAM", 2)) == 2


async def test_phishing_inbound_carries_the_verdict(platform: Platform, http: httpx.AsyncClient,
                                                    hooks: WebhookReceiver) -> None:
    s = await session(platform, http)
    await make_app(s, hooks.url, extra_credentials=[TG_CREDS])
    number = "+46701235103"
    await handset_caps(platform, http, number, ["SMS", "TELEGRAM"])
    await telegram_ready(platform)
    phishing = ("PayPal: your account is suspended. Verify your card details within 24 hours at "
                "https://paypa1-secure-login.top/verify")
    await handset_writes(platform, http, number, channel="TELEGRAM", to=TG_TOKEN.split(":")[0], body=phishing)
    await handset_writes(platform, http, number, channel="TELEGRAM", to=TG_TOKEN.split(":")[0],
                         body="Thanks, see you on Tuesday")
    first, second = await inbound_bodies(hooks, 2)
    verdict = first["message"]["content_safety"]
    assert verdict["suspicious"] is True
    codes = {r["code"] for r in verdict["reasons"]}
    assert "phishing_suspected" in codes and "lookalike_domain" in codes
    assert "content_safety" not in second["message"]
    r = await s.get(f"/messages/{first['message']['id']}")
    assert r.status_code == 200, r.text
    assert r.json()["content_safety"] == verdict
    assert r.json()["contact_message"] == {"text_message": {"text": phishing}}
