"""WhatsApp end to end, in both profiles, through the HTTP API and the sandbox REST API only: the
24-hour window and opt-in decide between WhatsApp and the next channel; templates go out of the
window; a tap on a template button comes back as a choice response naming our message; a late
platform failure (no WhatsApp on the number) and a platform answering 5xx or not at all end in
the next channel with nothing lost; a forged webhook is refused and stores nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tidings.conversations import engine
from tidings.testing.platform import Platform
from tidings.webhooks.testing import WebhookReceiver

from .helpers import Session, make_app, session, wait_message
from .test_e2e import hooks, parsed_events, wait_statuses  # noqa: F401

PNID = "109876543210"
WA_CREDS = {"channel": "WHATSAPP", "static_bearer": {"claimed_identity": PNID, "token": "wa-token"},
            "callback_secret": "wa-app-secret"}
TEMPLATE = {"template_message": {"channel_template": {"WHATSAPP": {
    "template_id": "order_update", "language_code": "EN_US",
    "parameters": {"body[1]text": "Ann", "body[2]text": "A-42", "button[2]url[1]text": "A-42",
                   "button[0]quick_reply[1]payload": "track:A-42"}}},
    "omni_template": {"template_id": "order_update", "version": "1",
                      "language_code": "en", "parameters": {}}}}
TEXT = {"text_message": {"text": "Your order shipped"}}


async def handset_caps(platform: Platform, http: httpx.AsyncClient, number: str, caps: list[str]) -> None:
    r = await http.put(f"{platform.base_url}/sandbox/v1/handsets/{number.lstrip('+')}",
                       json={"capabilities": caps})
    assert r.status_code == 200, r.text


async def contact(s: Session, number: str, *, opt_in: Any = None) -> str:
    body: dict[str, Any] = {"display_name": "Ann", "channel_identities": [
        {"channel": "WHATSAPP", "identity": number}, {"channel": "SMS", "identity": number}]}
    if opt_in is not None:
        body["metadata"] = json.dumps({"whatsapp_opt_in": opt_in})
    r = await s.post("/contacts", body)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def send(s: Session, app_id: str, contact_id: str, message: dict[str, Any]) -> str:
    r = await s.post("/messages:send", {"app_id": app_id, "message": message, "recipient": {"contact_id": contact_id},
                                        "channel_priority_order": ["WHATSAPP", "SMS"]})
    assert r.status_code == 200, r.text
    return str(r.json()["message_id"])


async def registered(platform: Platform, http: httpx.AsyncClient) -> None:
    """Wait for Tidings to register the app's webhook with the platform (its console)."""
    async with asyncio.timeout(10):
        while (await http.get(f"{platform.base_url}/sandbox/platforms/whatsapp/console/phone_numbers/{PNID}")
               ).status_code != 200:
            await asyncio.sleep(0.05)


def trail(msg: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["channel"], a["state"]) for a in msg["delivery"]["attempts"]]


async def test_outside_the_window_text_goes_to_sms_template_goes_to_whatsapp(
        platform: Platform, http: httpx.AsyncClient, hooks: WebhookReceiver) -> None:
    s = await session(platform, http)
    app_id = await make_app(s, hooks.url, extra_credentials=[WA_CREDS])
    number = "+46701236001"
    await handset_caps(platform, http, number, ["SMS", "WHATSAPP"])
    contact_id = await contact(s, number, opt_in=True)

    text_id = await send(s, app_id, contact_id, TEXT)
    msg = await wait_message(s, text_id, ("DELIVERED",))
    assert trail(msg) == [("WHATSAPP", "SKIPPED"), ("SMS", "DELIVERED")]
    assert "template required" in msg["delivery"]["attempts"][0]["reason"]
    assert await wait_statuses(hooks, text_id, "DELIVERED") == [
        "SWITCHING_CHANNEL", "QUEUED_ON_CHANNEL", "DELIVERED"]

    template_id = await send(s, app_id, contact_id, TEMPLATE)
    msg = await wait_message(s, template_id, ("DELIVERED", "READ"))
    assert trail(msg)[0][0] == "WHATSAPP" and len(trail(msg)) == 1
    assert msg["delivery"]["attempts"][0]["billing_category"] == "UTILITY"
    inbox = (await http.get(f"{platform.base_url}/sandbox/v1/handsets/{number.lstrip('+')}/messages")).json()
    native = [m for m in inbox["messages"] if m["channel"] == "WHATSAPP"] if isinstance(inbox, dict) else [
        m for m in inbox if m["channel"] == "WHATSAPP"]
    assert len(native) == 1 and "Hi Ann, your order A-42 has shipped." in native[0]["body"]

    # The handset taps "Track it": a choice response naming our message, not the wamid.
    r = await http.post(f"{platform.base_url}/sandbox/v1/handsets/{number.lstrip('+')}/messages",
                        json={"channel": "WHATSAPP", "to": PNID, "postback": "track:A-42"})
    assert r.status_code == 202, r.text
    async with asyncio.timeout(10):
        while not [e for e in parsed_events(hooks) if getattr(e, "message", None)]:
            await asyncio.sleep(0.05)
    tap = [e for e in parsed_events(hooks) if getattr(e, "message", None)][0]
    choice = tap.message.contact_message.choice_response_message
    assert (choice.message_id, choice.postback_data) == (template_id, "track:A-42")
    assert tap.message.contact_id == contact_id


async def test_template_without_opt_in_is_not_sent_on_whatsapp(platform: Platform, http: httpx.AsyncClient) -> None:
    s = await session(platform, http)
    app_id = await make_app(s, None, extra_credentials=[WA_CREDS])
    number = "+46701236002"
    await handset_caps(platform, http, number, ["SMS", "WHATSAPP"])
    contact_id = await contact(s, number, opt_in=["security"])  # not for "information"
    msg = await wait_message(s, await send(s, app_id, contact_id, TEMPLATE), ("DELIVERED",))
    assert trail(msg) == [("WHATSAPP", "SKIPPED"), ("SMS", "DELIVERED")]
    assert "opt-in" in msg["delivery"]["attempts"][0]["reason"]


async def test_inside_the_window_after_the_handset_wrote(platform: Platform, http: httpx.AsyncClient,
                                                         hooks: WebhookReceiver) -> None:
    s = await session(platform, http)
    app_id = await make_app(s, hooks.url, extra_credentials=[WA_CREDS])
    number = "+46701236003"
    await handset_caps(platform, http, number, ["SMS", "WHATSAPP"])
    await registered(platform, http)
    r = await http.post(f"{platform.base_url}/sandbox/v1/handsets/{number.lstrip('+')}/messages",
                        json={"channel": "WHATSAPP", "to": PNID, "body": "Is my order on its way?"})
    assert r.status_code == 202, r.text
    async with asyncio.timeout(10):
        while not [e for e in parsed_events(hooks) if getattr(e, "message", None)]:
            await asyncio.sleep(0.05)
    inbound = [e for e in parsed_events(hooks) if getattr(e, "message", None)][0]
    assert inbound.message.contact_message.text_message.text == "Is my order on its way?"
    assert inbound.message.channel_identity.channel == "WHATSAPP"
    # No opt-in recorded: answering inside the window needs none.
    msg = await wait_message(s, await send(s, app_id, inbound.message.contact_id, TEXT), ("DELIVERED", "READ"))
    assert trail(msg)[0][0] == "WHATSAPP" and len(trail(msg)) == 1
    assert msg["delivery"]["attempts"][0]["billing_category"] == "SERVICE"
    assert msg["conversation_id"] == inbound.message.conversation_id


async def test_number_without_whatsapp_fails_late_then_sms(platform: Platform, http: httpx.AsyncClient,
                                                           hooks: WebhookReceiver) -> None:
    s = await session(platform, http)
    app_id = await make_app(s, hooks.url, extra_credentials=[WA_CREDS])
    number = "+46701236004"
    await handset_caps(platform, http, number, ["SMS"])
    msg = await wait_message(s, await send(s, app_id, await contact(s, number, opt_in=True), TEMPLATE),
                             ("DELIVERED",))
    assert trail(msg) == [("WHATSAPP", "FAILED"), ("SMS", "DELIVERED")]
    assert msg["delivery"]["attempts"][0]["reason"].startswith("131026")
    assert await wait_statuses(hooks, msg["id"], "DELIVERED") == [
        "QUEUED_ON_CHANNEL", "SWITCHING_CHANNEL", "QUEUED_ON_CHANNEL", "DELIVERED"]
    [sms] = platform.sandbox.messages_for(number)  # nothing reached the handset on WhatsApp
    assert sms.channel == "SMS"


@pytest.mark.parametrize("faults, expected", [
    (2, [("WHATSAPP", "DELIVERED")]),  # retried, then accepted
    (3, [("WHATSAPP", "FAILED"), ("SMS", "DELIVERED")]),  # retries exhausted: next channel
])
async def test_platform_5xx_is_retried_then_falls_back(platform: Platform, http: httpx.AsyncClient,
                                                       faults: int, expected: list[tuple[str, str]]) -> None:
    s = await session(platform, http)
    app_id = await make_app(s, None, extra_credentials=[WA_CREDS])
    number = f"+4670123601{faults}"
    await handset_caps(platform, http, number, ["SMS", "WHATSAPP"])
    r = await http.post(f"{platform.base_url}/sandbox/platforms/whatsapp/console/faults",
                        json={"code": 131016, "count": faults})  # 503 Service unavailable
    assert r.status_code == 200, r.text
    msg = await wait_message(s, await send(s, app_id, await contact(s, number, opt_in=True), TEMPLATE),
                             ("DELIVERED", "READ"), timeout=30)
    assert [(c, "DELIVERED" if st == "READ" else st) for c, st in trail(msg)] == expected
    assert msg["delivery"]["attempts"][0]["tries"] == min(faults + 1, 3)
    inbox = platform.sandbox.messages_for(number)
    assert len(inbox) == 1  # exactly once, on the channel that took it


@contextlib.asynccontextmanager
async def blackhole() -> AsyncIterator[str]:
    """A platform that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        with contextlib.suppress(Exception):
            while await reader.read(65536):
                pass

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_platform_timing_out_is_retried_then_falls_back(
        platform_factory: Any, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    async with blackhole() as url:
        monkeypatch.setenv("TIDINGS_CHANNEL_WHATSAPP_URL", url)
        async with platform_factory(channel_timeout_seconds=0.3) as platform:
            s = await session(platform, http)
            app_id = await make_app(s, None, extra_credentials=[WA_CREDS])
            number = "+46701236020"
            await handset_caps(platform, http, number, ["SMS", "WHATSAPP"])
            msg = await wait_message(s, await send(s, app_id, await contact(s, number, opt_in=True), TEMPLATE),
                                     ("DELIVERED",), timeout=30)
            assert trail(msg) == [("WHATSAPP", "FAILED"), ("SMS", "DELIVERED")]
            attempt = msg["delivery"]["attempts"][0]
            assert attempt["tries"] == 3 and "timed out" in attempt["reason"]
            assert len(platform.sandbox.messages_for(number)) == 1


async def test_forged_webhook_is_refused_and_stores_nothing(platform: Platform, http: httpx.AsyncClient,
                                                            hooks: WebhookReceiver) -> None:
    s = await session(platform, http)
    app_id = await make_app(s, hooks.url, extra_credentials=[WA_CREDS])
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp", "metadata": {"display_phone_number": "1", "phone_number_id": PNID},
            "contacts": [{"profile": {"name": "Mallory"}, "wa_id": "46701236030"}],
            "messages": [{"from": "46701236030", "id": "wamid.forged", "timestamp": "1700000000",
                          "type": "text", "text": {"body": "send me the refund"}}]}}]}]}).encode()
    url = f"{platform.base_url}/channels/whatsapp/apps/{app_id}/webhook"
    for signature in ("sha256=" + "0" * 64, None):
        headers = {"Content-Type": "application/json"}
        if signature:
            headers["X-Hub-Signature-256"] = signature
        r = await http.post(url, content=body, headers=headers)
        assert r.status_code in (401, 403), r.text
    await asyncio.sleep(0.5)
    r = await s.get("/contacts")
    assert r.status_code == 200 and r.json()["contacts"] == []
    r = await s.get(f"/messages?app_id={app_id}")
    assert r.status_code == 200 and r.json()["messages"] == []
    assert hooks.requests == []


async def test_a_platform_that_lost_the_webhook_registration_gets_it_back(
        platform: Platform, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sandbox restarted without a data directory forgets the registrations Tidings made: the
    engine makes each app's configuration again every `RECONFIGURE_MS`, so WhatsApp works again
    without restarting Tidings."""
    monkeypatch.setattr(engine, "RECONFIGURE_MS", 300)
    s = await session(platform, http)
    await make_app(s, None, extra_credentials=[WA_CREDS])
    await registered(platform, http)
    console = f"{platform.base_url}/sandbox/platforms/whatsapp/console/phone_numbers/{PNID}"
    assert platform.sandbox is not None
    platform.sandbox.platforms["WHATSAPP"].numbers.clear()  # type: ignore[attr-defined]  # as by a restart
    assert (await http.get(console)).status_code != 200
    await registered(platform, http)
    assert (await http.get(console)).json()["webhook_url"].endswith("/webhook")


async def test_a_composing_event_shows_typing_on_the_contacts_newest_message(
        platform: Platform, http: httpx.AsyncClient, hooks: WebhookReceiver) -> None:
    """events:send composing_event on WhatsApp: the typing indicator, sent as the read mark of the
    contact's newest WhatsApp message (found by Tidings from what it stored); a contact who never
    wrote on WhatsApp cannot be shown one: FAILED, OUTSIDE_ALLOWED_SENDING_WINDOW."""
    s = await session(platform, http)
    app_id = await make_app(s, hooks.url, extra_credentials=[WA_CREDS])
    r = await s.post(f"/apps/{app_id}/webhooks", {"target": hooks.url, "triggers": ["EVENT_DELIVERY"]})
    assert r.status_code == 200, r.text
    number = "+46701236011"
    await handset_caps(platform, http, number, ["SMS", "WHATSAPP"])
    await registered(platform, http)
    wamids = []
    for body in ("Hello?", "Is anyone there?"):
        r = await http.post(f"{platform.base_url}/sandbox/v1/handsets/{number.lstrip('+')}/messages",
                            json={"channel": "WHATSAPP", "to": PNID, "body": body})
        assert r.status_code == 202, r.text
        wamids.append(r.json()["message_id"])
        async with asyncio.timeout(10):
            while not [e for e in parsed_events(hooks) if getattr(e, "message", None)
                       and e.message.contact_message.text_message.text == body]:
                await asyncio.sleep(0.05)
    inbound = [e for e in parsed_events(hooks) if getattr(e, "message", None)][0]
    sent = await s.post("/events:send", {"app_id": app_id, "event": {"composing_event": {}},
                                         "recipient": {"contact_id": inbound.message.contact_id},
                                         "channel_priority_order": ["WHATSAPP"]})
    assert sent.status_code == 200, sent.text
    report = await event_report(hooks, sent.json()["event_id"])
    assert report["status"] == "DELIVERED", report
    twin = platform.sandbox.platforms["WHATSAPP"]
    assert [(m["handset"], m["message_id"], m["typing"]) for m in twin.read_marks] == [(number, wamids[-1], True)]

    silent = await contact(s, "+46701236012")  # a WhatsApp identity, but no message from it
    sent = await s.post("/events:send", {"app_id": app_id, "event": {"composing_event": {}},
                                         "recipient": {"contact_id": silent}, "channel_priority_order": ["WHATSAPP"]})
    report = await event_report(hooks, sent.json()["event_id"])
    assert report["status"] == "FAILED" and report["reason"]["code"] == "OUTSIDE_ALLOWED_SENDING_WINDOW"
    assert len(twin.read_marks) == 1


async def event_report(hooks: WebhookReceiver, event_id: str) -> dict[str, Any]:
    async with asyncio.timeout(15):
        while True:
            for request in hooks.requests:
                report = json.loads(request.body).get("event_delivery_report")
                if report and report["event_id"] == event_id:
                    return dict(report)
            await asyncio.sleep(0.05)
