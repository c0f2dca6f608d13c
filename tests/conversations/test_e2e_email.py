"""Email end to end, in both profiles, through the HTTP API and the sandbox REST API only: a card
goes out as DKIM-signed multipart mail to the sandbox mailbox (DKIM and SPF pass, DMARC aligned),
DELIVERED comes back however fast the hand-off reports it, and the mailbox owner's reply arrives
as MESSAGE_INBOUND in the same conversation."""

from __future__ import annotations

import asyncio
from email import message_from_string, policy
from typing import Any

import httpx

from tidings.testing.platform import Platform
from tidings.webhooks.testing import WebhookReceiver

from .helpers import make_app, session, wait_message
from .test_e2e import hooks, parsed_events, wait_statuses  # noqa: F401

EMAIL_CREDS = {"channel": "EMAIL", "email_credentials": {
    "from_name": "Acme", "from_local_part": "hello",
    "domains": {"transactional": "mail.acme.test", "promotional": "news.acme.test"}}}
CARD = {"card_message": {"title": "Your order shipped", "description": "Track it below",
                         "media_message": {"url": "https://example.com/parcel.png"},
                         "choices": [{"url_message": {"title": "Track", "url": "https://example.com/t/1"}},
                                     {"text_message": {"text": "Call me"}, "postback_data": "call"}]}}


async def mailbox(platform: Platform, http: httpx.AsyncClient, address: str, count: int,
                  timeout: float = 10.0) -> list[dict[str, Any]]:
    url = f"{platform.base_url}/sandbox/v1/mailboxes/{address}/messages"
    async with asyncio.timeout(timeout):
        while True:
            r = await http.get(url)
            assert r.status_code == 200, r.text
            if len(r.json()) >= count:
                return r.json()  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)


async def send_email(s: Any, app_id: str, address: str, message: dict[str, Any]) -> str:
    r = await s.post("/messages:send", {
        "app_id": app_id, "message": message, "channel_priority_order": ["EMAIL"],
        "recipient": {"identified_by": {"channel_identities": [{"channel": "EMAIL", "identity": address}]}}})
    assert r.status_code == 200, r.text
    return str(r.json()["message_id"])


async def test_card_as_signed_multipart_mail_then_reply_inbound(
        platform: Platform, http: httpx.AsyncClient, hooks: WebhookReceiver) -> None:
    s = await session(platform, http)
    app_id = await make_app(s, hooks.url, extra_credentials=[EMAIL_CREDS])
    message_id = await send_email(s, app_id, "ann@example.test", CARD)

    [mail] = await mailbox(platform, http, "ann@example.test", 1)
    assert (mail["dkim"], mail["spf"], mail["dmarc_aligned"]) == ("pass", "pass", True)
    assert mail["dkim_domain"] == "mail.acme.test"
    assert mail["from"] == "hello@mail.acme.test" and mail["subject"] == "Your order shipped"
    assert "Track it below" in mail["text"] and "https://example.com/parcel.png" in mail["text"]
    assert 'href="https://example.com/t/1"' in mail["html"]
    parsed = message_from_string(mail["raw"], policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert "List-Unsubscribe" not in parsed  # transactional mail

    # Email's DELIVERED (the hand-off) may reach the sink before the send is recorded; it is
    # matched all the same.
    msg = await wait_message(s, message_id, ("DELIVERED",))
    attempt = msg["delivery"]["attempts"][0]
    assert (attempt["channel"], attempt["state"]) == ("EMAIL", "DELIVERED")
    assert f"<{attempt['channel_message_id']}>" == parsed["Message-ID"]
    assert await wait_statuses(hooks, message_id, "DELIVERED") == ["QUEUED_ON_CHANNEL", "DELIVERED"]

    r = await http.post(f"{platform.base_url}/sandbox/v1/mailboxes/ann@example.test/messages", json={
        "to": parsed["Reply-To"], "subject": "Re: Your order shipped", "body": "Where is it now?",
        "in_reply_to": parsed["Message-ID"]})
    assert r.status_code == 202, r.text
    async with asyncio.timeout(10):
        while not [e for e in parsed_events(hooks) if getattr(e, "message", None)]:
            await asyncio.sleep(0.05)
    inbound = [e for e in parsed_events(hooks) if getattr(e, "message", None)][0]
    assert inbound.message.channel_identity.channel == "EMAIL"
    assert inbound.message.channel_identity.identity == "ann@example.test"
    assert "Where is it now?" in inbound.message.contact_message.text_message.text
    assert inbound.message.conversation_id == msg["conversation_id"]
    assert inbound.message.contact_id == msg["contact_id"]


async def test_unknown_mailbox_bounces_to_failed_then_sms(
        platform: Platform, http: httpx.AsyncClient, hooks: WebhookReceiver) -> None:
    s = await session(platform, http)
    app_id = await make_app(s, hooks.url, extra_credentials=[EMAIL_CREDS])
    r = await http.put(f"{platform.base_url}/sandbox/v1/mailboxes/gone@example.test", json={"exists": False})
    assert r.status_code == 200, r.text
    r = await s.post("/contacts", {"display_name": "Gone", "channel_identities": [
        {"channel": "EMAIL", "identity": "gone@example.test"}, {"channel": "SMS", "identity": "+46701235001"}]})
    assert r.status_code == 200, r.text
    r = await s.post("/messages:send", {
        "app_id": app_id, "message": {"text_message": {"text": "Receipt attached"}},
        "channel_priority_order": ["EMAIL", "SMS"], "recipient": {"contact_id": r.json()["id"]}})
    assert r.status_code == 200, r.text
    message_id = r.json()["message_id"]
    [sms] = await platform.sandbox.wait_for_messages("+46701235001", 1, timeout=15)
    assert sms.body == "Receipt attached"
    msg = await wait_message(s, message_id, ("DELIVERED",))
    states = [(a["channel"], a["state"]) for a in msg["delivery"]["attempts"]]
    # The DSN may overtake the hand-off's DELIVERED or follow it; either way the bounce wins.
    assert states[-1] == ("SMS", "DELIVERED") and states[0] == ("EMAIL", "FAILED"), states
    assert "SWITCHING_CHANNEL" in await wait_statuses(hooks, message_id, "DELIVERED")
