"""Messenger gaps, end to end in both profiles: `channel_properties` reach the connector (a
tagged message outside the 24-hour window goes out as MESSAGE_TAG), and a read watermark that
reaches a process which did not send the messages still marks them READ."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
from sqlalchemy import update

from tests.channels.messenger.test_e2e import MESSENGER, PAGE_ID, _api, _app, _wait_event
from tidings.channels.messenger.graph import SIGNATURE_HEADER, sign
from tidings.channels.messenger.sent import SentLog
from tidings.store.conversation_schema import conv_messages
from tidings.testing.platform import Platform
from tidings.webhooks.testing import WebhookReceiver

DAY_MS = 24 * 3600 * 1000


async def _page_ready(platform: Platform) -> Any:
    twin = platform.sandbox.platforms["MESSENGER"]
    async with asyncio.timeout(15):  # the engine registers the app's webhook with the page
        while not (PAGE_ID in twin.pages and twin.pages[PAGE_ID].webhook_url):
            await asyncio.sleep(0.05)
    return twin


async def _writes(platform: Platform, http: httpx.AsyncClient, number: str, text: str) -> None:
    r = await http.post(f"{platform.base_url}/sandbox/v1/handsets/{number}/messages",
                        json={"channel": "MESSENGER", "to": PAGE_ID, "body": text})
    assert r.status_code == 202, r.text


async def _read(platform: Platform, http: httpx.AsyncClient, app_id: str, psid: str, watermark: int) -> None:
    """The person read up to `watermark`: Messenger's `read` webhook, signed with the app secret."""
    body = orjson.dumps({"object": "page", "entry": [{"id": PAGE_ID, "time": watermark, "messaging": [
        {"sender": {"id": psid}, "recipient": {"id": PAGE_ID}, "timestamp": watermark,
         "read": {"watermark": watermark}}]}]})
    r = await http.post(f"{platform.base_url}/channels/messenger/apps/{app_id}/webhook", content=body,
                        headers={"Content-Type": "application/json",
                                 SIGNATURE_HEADER: sign(MESSENGER["callback_secret"], body)})
    assert r.status_code == 200, r.text


def _send(app_id: str, psid: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"app_id": app_id, "message": {"text_message": {"text": text}}, "channel_priority_order": ["MESSENGER"],
            "recipient": {"identified_by": {"channel_identities": [{"channel": "MESSENGER", "identity": psid}]}},
            **extra}


async def test_tagged_message_outside_the_window(platform: Platform, http: httpx.AsyncClient) -> None:
    hooks = WebhookReceiver("/conversation")
    await hooks.start()
    try:
        api = await _api(platform, http)
        app_id = await _app(api, hooks.url)
        twin = await _page_ready(platform)
        number = "+46701239001"
        handset = platform.sandbox.handset(number)
        handset.capabilities = ["SMS", "MESSENGER"]
        psid = handset.identity("MESSENGER")
        await _writes(platform, http, number, "Where is my order?")
        await _wait_event(hooks, lambda e: getattr(e, "message", None) is not None)
        # Two days pass: the person's message is now outside the 24-hour window, on the platform
        # and in Tidings.
        twin.windows[(PAGE_ID, number)] -= 2 * DAY_MS
        async with platform.ctx.db.write() as conn:
            await conn.execute(update(conv_messages).where(conv_messages.c.direction == "TO_APP",
                                                           conv_messages.c.identity == psid)
                               .values(accept_ms=conv_messages.c.accept_ms - 2 * DAY_MS))

        untagged = await api.post("/messages:send", _send(app_id, psid, "Untagged update"))
        message = await api.wait_status(untagged["message_id"], ("FAILED",))
        [attempt] = message["delivery"]["attempts"]
        assert attempt["state"] == "SKIPPED" and "outside 24h window" in attempt["reason"]

        tagged = await api.post("/messages:send", _send(
            app_id, psid, "Your order shipped", channel_properties={"MESSENGER_MESSAGE_TAG": "POST_PURCHASE_UPDATE"}))
        message = await api.wait_status(tagged["message_id"], ("DELIVERED", "READ"))
        assert message["channel_properties"] == {"MESSENGER_MESSAGE_TAG": "POST_PURCHASE_UPDATE"}
        assert [(a["channel"], a["state"] in ("DELIVERED", "READ")) for a in message["delivery"]["attempts"]] == [
            ("MESSENGER", True)]
        request = next(r for r in twin.requests if r["message"].get("text") == "Your order shipped")
        assert request["messaging_type"] == "MESSAGE_TAG" and request["tag"] == "POST_PURCHASE_UPDATE"
        [received] = [m for m in platform.sandbox.messages_for(number) if m.channel == "MESSENGER"]
        assert received.body == "Your order shipped"

        # channel_properties must be a map of strings (Sinch's format).
        r = await http.post(api.url("/messages:send"), json=_send(app_id, psid, "x", channel_properties={"A": 1}),
                            headers={"Authorization": f"Bearer {api.token}"})
        assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    finally:
        await hooks.stop()


async def test_read_watermark_reaching_another_process(platform: Platform, http: httpx.AsyncClient) -> None:
    """The webhook side's Messenger connector gets a sent log of its own, as a process that sent
    nothing has: the READ watermark still marks every earlier message READ, through the stored
    attempts, and leaves a message sent after the watermark alone."""
    platform.ctx.channel_options.setdefault("messenger", {})["sent_log"] = SentLog()
    hooks = WebhookReceiver("/conversation")
    await hooks.start()
    try:
        api = await _api(platform, http)
        app_id = await _app(api, hooks.url)
        twin = await _page_ready(platform)
        number = "+46701239002"
        handset = platform.sandbox.handset(number)
        handset.capabilities = ["SMS", "MESSENGER"]
        psid = handset.identity("MESSENGER")
        await _writes(platform, http, number, "hi")
        await _wait_event(hooks, lambda e: getattr(e, "message", None) is not None)
        twin.read_receipts = False
        first = await api.post("/messages:send", _send(app_id, psid, "one"))
        second = await api.post("/messages:send", _send(app_id, psid, "two"))
        for sent in (first, second):
            await api.wait_status(sent["message_id"], ("DELIVERED",))  # the listed mids
        await twin.idle()
        routes = platform.ctx.channel_options["messenger"]["sent_log"]
        assert isinstance(routes, SentLog) and len(routes) == 0  # the webhook side sent nothing
        # The person reads: a signed `read` webhook with a watermark, as Messenger sends it.
        watermark = platform.ctx.clock()
        await _read(platform, http, app_id, psid, watermark)
        for sent in (first, second):
            message = await api.wait_status(sent["message_id"], ("READ",))
            assert [a["state"] for a in message["delivery"]["attempts"]] == ["READ"]
        for sent in (first, second):
            await _wait_event(hooks, lambda e, m=sent["message_id"]: getattr(e, "message_delivery_report", None)
                              is not None and e.message_delivery_report.message_id == m
                              and e.message_delivery_report.status == "READ")

        # A message sent after the watermark is not covered by it.
        third = await api.post("/messages:send", _send(app_id, psid, "three"))
        await api.wait_status(third["message_id"], ("DELIVERED",))
        await _read(platform, http, app_id, psid, watermark)
        await asyncio.sleep(0.5)
        assert (await api.get(f"/messages/{third['message_id']}"))["delivery"]["status"] == "DELIVERED"
    finally:
        await hooks.stop()

