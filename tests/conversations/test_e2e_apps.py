"""Telegram and Viber end to end, and the default channel order, in both profiles, through the
HTTP API and the sandbox REST API only. (Messenger's are in tests/channels/messenger/test_e2e.py.)

Default order without `channel_priority_order`: the contact's preferred channels, then the most
used messaging app in the recipient's country, then SMS."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from tidings.testing.platform import Platform
from tidings.webhooks.testing import WebhookReceiver

from .helpers import Session, make_app, session, wait_message
from .test_e2e import hooks, parsed_events, wait_statuses  # noqa: F401
from .test_e2e_whatsapp import TEMPLATE, WA_CREDS, handset_caps, trail

TG_TOKEN = "7000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
TG_CREDS = {"channel": "TELEGRAM", "telegram_credentials": {"token": TG_TOKEN}}
VIBER_TOKEN = "4453b6ac12345678-e02c5f12174805f9-daec29cbb3e0af9b"
VIBER_CREDS = {"channel": "VIBER", "static_token": {"token": VIBER_TOKEN}}
CHOICE = {"choice_message": {"text_message": {"text": "Pick a slot"}, "choices": [
    {"text_message": {"text": "Morning"}, "postback_data": "slot:am"},
    {"text_message": {"text": "Afternoon"}, "postback_data": "slot:pm"}]}}


async def new_contact(s: Session, identities: list[tuple[str, str]], **extra: Any) -> str:
    r = await s.post("/contacts", {"display_name": "Bo", **extra, "channel_identities": [
        {"channel": c, "identity": i} for c, i in identities]})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def inbound_events(hooks: WebhookReceiver, count: int = 1) -> list[Any]:
    async with asyncio.timeout(10):
        while len(found := [e for e in parsed_events(hooks) if getattr(e, "message", None)]) < count:
            await asyncio.sleep(0.05)
    return found


async def handset_writes(platform: Platform, http: httpx.AsyncClient, number: str, **body: Any) -> None:
    r = await http.post(f"{platform.base_url}/sandbox/v1/handsets/{number.lstrip('+')}/messages", json=body)
    assert r.status_code == 202, r.text


async def test_telegram_by_contact_preference_then_a_button_tap(
        platform: Platform, http: httpx.AsyncClient, hooks: WebhookReceiver) -> None:
    s = await session(platform, http)
    app_id = await make_app(s, hooks.url, extra_credentials=[TG_CREDS])
    number = "+46701237001"
    await handset_caps(platform, http, number, ["SMS", "TELEGRAM"])
    contact_id = await new_contact(s, [("SMS", number), ("TELEGRAM", number.lstrip("+"))],
                                   channel_priority=["TELEGRAM"])
    r = await s.post("/messages:send", {"app_id": app_id, "message": CHOICE, "recipient": {"contact_id": contact_id}})
    assert r.status_code == 200, r.text
    message_id = r.json()["message_id"]
    msg = await wait_message(s, message_id, ("DELIVERED",))
    assert trail(msg) == [("TELEGRAM", "DELIVERED")]
    [received] = platform.sandbox.messages_for(number)
    assert received.channel == "TELEGRAM" and received.content is not None
    keyboard = received.content["message"]["reply_markup"]["inline_keyboard"]  # the Bot API Message
    assert [b["text"] for row in keyboard for b in row] == ["Morning", "Afternoon"]
    assert await wait_statuses(hooks, message_id, "DELIVERED") == ["QUEUED_ON_CHANNEL", "DELIVERED"]

    await handset_writes(platform, http, number, channel="TELEGRAM", to=TG_TOKEN.split(":")[0], postback="slot:pm")
    [tap] = await inbound_events(hooks)
    choice = tap.message.contact_message.choice_response_message
    assert (choice.message_id, choice.postback_data) == (message_id, "slot:pm")
    assert tap.message.contact_id == contact_id and tap.message.channel_identity.channel == "TELEGRAM"

    # The agent is typing a reply: Telegram shows the chat action "typing"; it has no call ending it.
    twin = platform.sandbox.platforms["TELEGRAM"]
    for kind in ("composing_event", "composing_end_event"):
        r = await s.post("/events:send", {"app_id": app_id, "event": {kind: {}},
                                          "recipient": {"contact_id": contact_id},
                                          "channel_priority_order": ["TELEGRAM"]})
        assert r.status_code == 200, r.text
    async with asyncio.timeout(15):
        while not twin.chat_actions:
            await asyncio.sleep(0.05)
    assert [(a["chat_id"], a["action"]) for a in twin.chat_actions] == [(int(number.lstrip("+")), "typing")]


async def test_viber_delivered_seen_and_a_reply(platform: Platform, http: httpx.AsyncClient,
                                                hooks: WebhookReceiver) -> None:
    s = await session(platform, http)
    app_id = await make_app(s, hooks.url, extra_credentials=[VIBER_CREDS])
    number = "+46701237002"
    await handset_caps(platform, http, number, ["SMS", "VIBER"])
    contact_id = await new_contact(s, [("VIBER", f"viber-{number.lstrip('+')}"), ("SMS", number)])
    r = await s.post("/messages:send", {"app_id": app_id, "message": {"text_message": {"text": "Hej från Viber"}},
                                        "recipient": {"contact_id": contact_id}, "channel_priority_order": ["VIBER", "SMS"]})
    assert r.status_code == 200, r.text
    message_id = r.json()["message_id"]
    msg = await wait_message(s, message_id, ("READ",))
    assert trail(msg) == [("VIBER", "READ")]
    assert await wait_statuses(hooks, message_id, "READ") == ["QUEUED_ON_CHANNEL", "DELIVERED", "READ"]
    [received] = platform.sandbox.messages_for(number)
    assert (received.channel, received.body) == ("VIBER", "Hej från Viber")

    await handset_writes(platform, http, number, channel="VIBER", to=VIBER_TOKEN, body="Tack!")
    [reply] = await inbound_events(hooks)
    assert reply.message.contact_message.text_message.text == "Tack!"
    assert reply.message.contact_id == contact_id
    assert reply.message.conversation_id == msg["conversation_id"]


async def test_default_order_is_the_countrys_top_app_then_sms(platform: Platform, http: httpx.AsyncClient) -> None:
    """A Brazilian number without a preference: WhatsApp (Brazil's most used app), then SMS."""
    s = await session(platform, http)
    app_id = await make_app(s, None, extra_credentials=[WA_CREDS])
    number = "+5511987654321"
    await handset_caps(platform, http, number, ["SMS", "WHATSAPP"])
    contact_id = await new_contact(s, [("SMS", number)], metadata=json.dumps({"whatsapp_opt_in": True}))

    async def send(message: dict[str, Any]) -> dict[str, Any]:
        r = await s.post("/messages:send", {"app_id": app_id, "message": message,
                                            "recipient": {"contact_id": contact_id}})
        assert r.status_code == 200, r.text
        return await wait_message(s, r.json()["message_id"], ("DELIVERED", "READ"))

    template = await send(TEMPLATE)
    assert [c for c, _ in trail(template)] == ["WHATSAPP"]
    text = await send({"text_message": {"text": "Outside the window"}})
    assert trail(text) == [("WHATSAPP", "SKIPPED"), ("SMS", "DELIVERED")]
    # Without a phone number the country is unknown: straight to what the contact has.
    swedish = await new_contact(s, [("SMS", "+46701237003")])
    r = await s.post("/messages:send", {"app_id": app_id, "message": {"text_message": {"text": "Hej"}},
                                        "recipient": {"contact_id": swedish}})
    msg = await wait_message(s, r.json()["message_id"], ("DELIVERED",))
    assert trail(msg) == [("SMS", "DELIVERED")]  # Sweden's top app (Messenger) has no identity here
