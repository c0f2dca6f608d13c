"""The engine with the real connectors against their sandbox twins (both profiles): a handset
with RCS gets the card natively, one without falls back to SMS."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tidings.testing.platform import Platform

from .helpers import make_app, session, wait_message

RCS_CREDS = {"channel": "RCS", "static_bearer": {"claimed_identity": "conv-agent@rbm.goog", "token": "rbm-t"},
             "callback_secret": "rbm-client-token"}
CARD = {"card_message": {"title": "Sale", "description": "Half price",
                         "media_message": {"url": "https://example.com/sale.png"},
                         "choices": [{"text_message": {"text": "Buy"}, "postback_data": "buy"}]}}


async def send(s: Any, app_id: str, number: str) -> str:
    r = await s.post("/messages:send", {
        "app_id": app_id, "message": CARD, "channel_priority_order": ["RCS", "SMS"], "ttl": "20s",
        "recipient": {"identified_by": {"channel_identities": [{"channel": "SMS", "identity": number}]}}})
    assert r.status_code == 200, r.text
    return str(r.json()["message_id"])


async def test_rcs_handset_gets_a_rich_card_others_get_sms(platform: Platform, http: httpx.AsyncClient) -> None:
    s = await session(platform, http)
    app_id = await make_app(s, None, extra_credentials=[RCS_CREDS])
    platform.sandbox.handset("+46701239001").capabilities = ["SMS", "RCS"]
    on_rcs = await send(s, app_id, "+46701239001")
    on_sms = await send(s, app_id, "+46701239002")
    rich = await platform.sandbox.wait_for_messages("+46701239001", 1, timeout=10)
    assert rich[0].channel == "RCS" and rich[0].content is not None
    assert "richCard" in str(rich[0].content)
    msg = await wait_message(s, on_rcs, ("DELIVERED", "READ"))
    assert [(a["channel"], a["state"]) for a in msg["delivery"]["attempts"]][0][0] == "RCS"
    assert msg["delivery"]["attempts"][0]["billing_category"]
    plain = await platform.sandbox.wait_for_messages("+46701239002", 1, timeout=10)
    assert plain[0].channel == "SMS" and plain[0].body.startswith("Sale\nHalf price")
    msg = await wait_message(s, on_sms, ("DELIVERED",))
    assert [(a["channel"], a["state"]) for a in msg["delivery"]["attempts"]] == [
        ("RCS", "SKIPPED"), ("SMS", "DELIVERED")]


async def test_rcs_tap_comes_back_as_a_choice_response(platform: Platform, http: httpx.AsyncClient) -> None:
    from tidings.webhooks.testing import WebhookReceiver

    from .test_e2e import parsed_events

    hooks = WebhookReceiver("/conversation")
    await hooks.start()
    try:
        s = await session(platform, http)
        app_id = await make_app(s, hooks.url, extra_credentials=[RCS_CREDS])
        handset = platform.sandbox.handset("+46701239003")
        handset.capabilities = ["SMS", "RCS"]
        message_id = await send(s, app_id, "+46701239003")
        await platform.sandbox.wait_for_messages("+46701239003", 1, timeout=10)
        await wait_message(s, message_id, ("DELIVERED", "READ"))
        twin = platform.sandbox.platforms["RCS"]
        await twin.handset_sends(handset, RCS_CREDS["static_bearer"]["claimed_identity"], body=None,
                                 postback="buy")
        async with asyncio.timeout(10):
            while not [e for e in parsed_events(hooks) if getattr(e, "message", None)]:
                await asyncio.sleep(0.05)
        inbound = [e for e in parsed_events(hooks) if getattr(e, "message", None)][0]
        assert inbound.message.contact_message.choice_response_message.postback_data == "buy"
        assert inbound.message.channel_identity.channel == "RCS"
        sent = (await s.get(f"/messages/{message_id}")).json()
        assert inbound.message.conversation_id == sent["conversation_id"]
    finally:
        await hooks.stop()
