"""Double opt-in off SMS, end to end in both profiles: the consent API sends the confirmation
request as a conversation message of the app (WhatsApp by reply, Telegram by link), the
person's YES (or the link) records the opt-in, and the confirmation goes back on that channel."""

from __future__ import annotations

import httpx

from tidings.consent.double_opt_in import REPLY_TEXT
from tidings.consent.keywords import CONFIRMED_TEXT
from tidings.testing.platform import Platform
from tidings.webhooks.testing import WebhookReceiver

from .helpers import make_app, session, wait_message
from .test_e2e import hooks  # noqa: F401
from .test_e2e_apps import TG_CREDS, TG_TOKEN, handset_writes
from .test_e2e_whatsapp import PNID, WA_CREDS, handset_caps, registered
from .test_gaps_keywords import consent_check, inbound_bodies, inbox, telegram_ready


def _url(platform: Platform, path: str) -> str:
    return f"{platform.base_url}/tidings/v1/projects/{platform.creds.project_id}{path}"


async def test_whatsapp_double_opt_in_by_reply(platform: Platform, http: httpx.AsyncClient,
                                               hooks: WebhookReceiver) -> None:
    s = await session(platform, http)
    app_id = await make_app(s, hooks.url, extra_credentials=[WA_CREDS])
    number = "+46701235201"
    await handset_caps(platform, http, number, ["SMS", "WHATSAPP"])
    await registered(platform, http)
    await handset_writes(platform, http, number, channel="WHATSAPP", to=PNID, body="Hi, any offers?")
    await inbound_bodies(hooks, 1)
    assert (await consent_check(s, number, "WHATSAPP"))["reason_code"] == "consent_missing"

    r = await http.post(_url(platform, "/consents/double_opt_in"), headers=s.headers, json={
        "identity": number, "channel": "WHATSAPP", "purposes": ["engagement"], "method": "reply"})
    assert r.status_code == 201, r.text
    started = r.json()
    assert started["request_batch_id"] is None and started["request_message_id"]
    [request] = await inbox(platform, http, number, "WHATSAPP", 1)
    assert request["body"] == REPLY_TEXT
    sent = await wait_message(s, started["request_message_id"], ("DELIVERED", "READ"))
    assert sent["conversation_id"] and [a["channel"] for a in sent["delivery"]["attempts"]] == ["WHATSAPP"]
    assert (await consent_check(s, number, "WHATSAPP"))["allowed"] is False  # not before the YES

    await handset_writes(platform, http, number, channel="WHATSAPP", to=PNID, body="Yes")
    replies = await inbox(platform, http, number, "WHATSAPP", 2)
    assert replies[1]["body"] == CONFIRMED_TEXT["en"]
    assert (await consent_check(s, number, "WHATSAPP"))["allowed"] is True
    assert (await consent_check(s, number, "SMS"))["allowed"] is False  # only where it was confirmed
    r = await http.get(_url(platform, f"/consents/{number}"), headers=s.headers)
    [event] = r.json()["history"]
    assert event["source"] == "double_opt_in" and event["channel"] == "WHATSAPP"
    assert event["proof"]["confirmation_id"] == started["id"] and event["proof"]["by"] == "reply"
    assert event["proof"]["request_ref"] == started["request_message_id"]
    assert app_id


async def test_telegram_double_opt_in_by_link(platform: Platform, http: httpx.AsyncClient,
                                              hooks: WebhookReceiver) -> None:
    s = await session(platform, http)
    await make_app(s, hooks.url, extra_credentials=[TG_CREDS])
    number = "+46701235202"
    chat_id = number.lstrip("+")
    await handset_caps(platform, http, number, ["SMS", "TELEGRAM"])
    await telegram_ready(platform)
    await handset_writes(platform, http, number, channel="TELEGRAM", to=TG_TOKEN.split(":")[0], body="Hello")
    await inbound_bodies(hooks, 1)
    r = await http.post(_url(platform, "/consents/double_opt_in"), headers=s.headers, json={
        "identity": chat_id, "channel": "TELEGRAM", "purposes": ["engagement"], "method": "link"})
    assert r.status_code == 201, r.text
    url = r.json()["confirmation_url"]
    [request] = await inbox(platform, http, number, "TELEGRAM", 1)
    assert url in request["body"]
    opened = await http.get(url)
    assert opened.status_code == 200, opened.text
    assert (await consent_check(s, chat_id, "TELEGRAM"))["allowed"] is True


async def test_reply_method_needs_an_app_on_that_channel(platform: Platform, http: httpx.AsyncClient) -> None:
    s = await session(platform, http)
    r = await http.post(_url(platform, "/consents/double_opt_in"), headers=s.headers, json={
        "identity": "+46701235203", "channel": "VIBER", "purposes": ["engagement"], "method": "reply"})
    assert r.status_code == 400, r.text
    assert "VIBER" in r.json()["text"]
