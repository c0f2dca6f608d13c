"""The Conversation API end to end, in both profiles: messages:send → engine → connectors →
handset; statuses back; fallback on capability, permanent failure, transient failures and ttl;
restarts mid-fallback; inbound replies; signed callbacks the SDK verifies and parses."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sinch.domains.conversation.sinch_events.v1 import ConversationSinchEvent
from sqlalchemy import func, select

from tidings.channels import registry
from tidings.store.conversation_schema import conv_contacts, conv_messages
from tidings.store.schema import batches
from tidings.testing.platform import Platform
from tidings.webhooks.testing import WebhookReceiver

from .helpers import SECRET, SENDER, FakeConnector, Script, make_app, session, wait_message

RCS_CREDS = {"channel": "RCS", "static_bearer": {"claimed_identity": "agent-1", "token": "t"}}


@pytest.fixture
def rcs() -> Iterator[Script]:
    """A scripted fake RCS connector in place of the real one (also across restarts)."""
    script = Script()
    registry.OVERRIDES["fake_rcs"] = ("RCS", lambda ctx: FakeConnector(ctx, "RCS", script))
    yield script
    registry.OVERRIDES.pop("fake_rcs", None)


@pytest.fixture
async def hooks() -> Any:
    receiver = WebhookReceiver("/conversation")
    await receiver.start()
    yield receiver
    await receiver.stop()


def parsed_events(receiver: WebhookReceiver) -> list[Any]:
    handler = ConversationSinchEvent(SECRET)
    out = []
    for request in receiver.requests:
        assert handler.validate_authentication_header(request.headers, request.body)
        out.append(handler.parse_event(request.body, request.headers))
    return out


def statuses(receiver: WebhookReceiver, message_id: str) -> list[str]:
    return [e.message_delivery_report.status for e in parsed_events(receiver)
            if getattr(e, "message_delivery_report", None) is not None
            and e.message_delivery_report.message_id == message_id]


async def wait_statuses(receiver: WebhookReceiver, message_id: str, last: str, timeout: float = 10.0) -> list[str]:
    async with asyncio.timeout(timeout):
        while last not in statuses(receiver, message_id):
            await asyncio.sleep(0.05)
    return statuses(receiver, message_id)


async def test_text_via_sms_only(platform: Platform, http: httpx.AsyncClient, hooks: WebhookReceiver) -> None:
    s = await session(platform, http)
    app_id = await make_app(s, hooks.url)
    r = await s.post("/messages:send", {
        "app_id": app_id, "message": {"text_message": {"text": "Hello over SMS"}},
        "recipient": {"identified_by": {"channel_identities": [{"channel": "SMS", "identity": "+46701230001"}]}},
        "correlation_id": "c-1", "message_metadata": "m-1"})
    assert r.status_code == 200, r.text
    message_id = r.json()["message_id"]
    received = await platform.sandbox.wait_for_messages("+46701230001", 1)
    assert received[0].body == "Hello over SMS" and received[0].sender == SENDER
    msg = await wait_message(s, message_id, ("DELIVERED",))
    assert [(a["channel"], a["state"]) for a in msg["delivery"]["attempts"]] == [("SMS", "DELIVERED")]
    assert await wait_statuses(hooks, message_id, "DELIVERED") == ["QUEUED_ON_CHANNEL", "DELIVERED"]
    event = [e for e in parsed_events(hooks) if getattr(e, "message_delivery_report", None)][-1]
    assert event.app_id == app_id and event.project_id == platform.creds.project_id
    assert event.correlation_id == "c-1" and event.message_metadata == "m-1"
    assert event.message_delivery_report.channel_identity.identity == "+46701230001"


async def test_rcs_unreachable_falls_back_to_sms(platform_factory: Any, http: httpx.AsyncClient,
                                                 hooks: WebhookReceiver, rcs: Script) -> None:
    rcs.reachable = False
    async with platform_factory() as platform:
        s = await session(platform, http)
        app_id = await make_app(s, hooks.url, extra_credentials=[RCS_CREDS])
        card = {"card_message": {"title": "Sale", "description": "Half price",
                                 "media_message": {"url": "https://example.com/sale.png"},
                                 "choices": [{"text_message": {"text": "Buy"}, "postback_data": "buy"}]}}
        r = await s.post("/messages:send", {
            "app_id": app_id, "message": card, "channel_priority_order": ["RCS", "SMS"],
            "recipient": {"identified_by": {"channel_identities": [{"channel": "SMS", "identity": "+46701230002"}]}}})
        message_id = r.json()["message_id"]
        received = await platform.sandbox.wait_for_messages("+46701230002", 1)
        assert received[0].body == "Sale\nHalf price\nhttps://example.com/sale.png\n1. Buy"
        msg = await wait_message(s, message_id, ("DELIVERED",))
        attempts = msg["delivery"]["attempts"]
        assert [(a["channel"], a["state"]) for a in attempts] == [("RCS", "SKIPPED"), ("SMS", "DELIVERED")]
        assert "no RCS on the handset" in attempts[0]["reason"]
        assert await wait_statuses(hooks, message_id, "DELIVERED") == [
            "SWITCHING_CHANNEL", "QUEUED_ON_CHANNEL", "DELIVERED"]
        assert rcs.sent == []


async def test_permanent_then_transient_failures_move_on(platform_factory: Any, http: httpx.AsyncClient,
                                                         rcs: Script) -> None:
    async with platform_factory() as platform:
        s = await session(platform, http)
        app_id = await make_app(s, None, extra_credentials=[RCS_CREDS])
        body = {"app_id": app_id, "message": {"text_message": {"text": "x"}},
                "channel_priority_order": ["RCS", "SMS"],
                "recipient": {"identified_by": {"channel_identities": [{"channel": "SMS", "identity": "+46701230003"}]}}}
        rcs.outcomes = ["permanent"]
        first = (await s.post("/messages:send", body)).json()["message_id"]
        msg = await wait_message(s, first, ("DELIVERED",))
        assert [(a["channel"], a["state"]) for a in msg["delivery"]["attempts"]] == [
            ("RCS", "FAILED"), ("SMS", "DELIVERED")]
        # Transient errors are retried (three tries in all), then the next channel is used.
        rcs.outcomes = ["transient", "transient", "transient"]
        second = (await s.post("/messages:send", body)).json()["message_id"]
        msg = await wait_message(s, second, ("DELIVERED",))
        attempts = msg["delivery"]["attempts"]
        assert [(a["channel"], a["state"], a["tries"]) for a in attempts] == [
            ("RCS", "FAILED", 3), ("SMS", "DELIVERED", 1)]
        # A transient error then success stays on RCS.
        rcs.outcomes = ["transient", "ok"]
        third = (await s.post("/messages:send", body)).json()["message_id"]
        msg = await wait_message(s, third, ("WAITING",))
        assert [(a["channel"], a["state"], a["tries"]) for a in msg["delivery"]["attempts"]] == [
            ("RCS", "SENT", 2)]


async def test_ttl_expiry_switches_channel_even_across_a_restart(
        platform_factory: Any, http: httpx.AsyncClient, hooks: WebhookReceiver, rcs: Script) -> None:
    async with platform_factory() as platform:
        s = await session(platform, http)
        app_id = await make_app(s, hooks.url, extra_credentials=[RCS_CREDS])
        r = await s.post("/messages:send", {
            "app_id": app_id, "message": {"text_message": {"text": "ttl"}}, "ttl": "2s",
            "channel_priority_order": ["RCS", "SMS"],
            "recipient": {"identified_by": {"channel_identities": [{"channel": "SMS", "identity": "+46701230004"}]}}})
        message_id = r.json()["message_id"]
        await wait_message(s, message_id, ("WAITING",))  # sent on RCS, never delivered there
        await platform.stop_worker()
        await asyncio.sleep(2.2)  # the deadline passes while no worker runs
        await platform.start_worker()
        msg = await wait_message(s, message_id, ("DELIVERED",))
        assert [(a["channel"], a["state"]) for a in msg["delivery"]["attempts"]] == [
            ("RCS", "TIMED_OUT"), ("SMS", "DELIVERED")]
        assert await wait_statuses(hooks, message_id, "DELIVERED") == [
            "QUEUED_ON_CHANNEL", "SWITCHING_CHANNEL", "QUEUED_ON_CHANNEL", "DELIVERED"]


async def test_an_sms_not_delivered_within_the_ttl_is_given_up_by_the_carrier_too(
        platform_factory: Any, http: httpx.AsyncClient, hooks: WebhookReceiver, rcs: Script) -> None:
    """SMS first, with a 2 s ttl, to a handset the carrier needs 4 s to reach: at the deadline the
    engine moves on to RCS, and the SMS — its batch expiring then, the carrier told so by the
    validity period — never arrives as well."""
    number = "+46701230009"
    async with platform_factory() as platform:
        platform.sandbox.set_rule(number, latency_ms=4000)
        s = await session(platform, http)
        app_id = await make_app(s, hooks.url, extra_credentials=[RCS_CREDS])
        r = await s.post("/messages:send", {
            "app_id": app_id, "message": {"text_message": {"text": "once only"}}, "ttl": "2s",
            "channel_priority_order": ["SMS", "RCS"],
            "recipient": {"identified_by": {"channel_identities": [{"channel": "SMS", "identity": number}]}}})
        assert r.status_code == 200, r.text
        message_id = r.json()["message_id"]
        # The fake RCS never reports delivery either: both attempts time out, one after the other.
        msg = await wait_message(s, message_id, ("FAILED",), timeout=15.0)
        assert [(a["channel"], a["state"]) for a in msg["delivery"]["attempts"]] == [
            ("SMS", "TIMED_OUT"), ("RCS", "TIMED_OUT")]
        assert [m.identity for m in rcs.sent] == [number]
        await asyncio.sleep(1.0)  # past the carrier's 4 s
        assert platform.sandbox.messages_for(number) == []
        async with platform.ctx.db.read() as conn:
            (expire_at_ms, created_ms), = (await conn.execute(
                select(batches.c.expire_at_ms, batches.c.created_ms)
                .where(batches.c.client_reference == f"conv:{message_id}"))).all()
        assert 1000 <= expire_at_ms - created_ms <= 2500  # the attempt's deadline, not the 3-day default


async def test_sms_reply_number_maps_to_the_choice_postback(platform: Platform, http: httpx.AsyncClient,
                                                            hooks: WebhookReceiver) -> None:
    s = await session(platform, http)
    app_id = await make_app(s, hooks.url)
    choices = {"choice_message": {"text_message": {"text": "Pick one"}, "choices": [
        {"text_message": {"text": "Red"}, "postback_data": "red"},
        {"text_message": {"text": "Blue"}, "postback_data": "blue"}]}}
    r = await s.post("/messages:send", {
        "app_id": app_id, "message": choices,
        "recipient": {"identified_by": {"channel_identities": [{"channel": "SMS", "identity": "+46701230005"}]}}})
    message_id = r.json()["message_id"]
    received = await platform.sandbox.wait_for_messages("+46701230005", 1)
    assert received[0].body == "Pick one\n1. Red\n2. Blue"
    await wait_message(s, message_id, ("DELIVERED",))
    await platform.sandbox.send_mo("+46701230005", SENDER, "2")
    async with asyncio.timeout(10):
        while not [e for e in parsed_events(hooks) if getattr(e, "message", None)]:
            await asyncio.sleep(0.05)
    inbound = [e for e in parsed_events(hooks) if getattr(e, "message", None)][0]
    reply = inbound.message.contact_message
    assert reply.choice_response_message.postback_data == "blue"
    assert reply.choice_response_message.message_id == message_id
    assert inbound.message.channel_identity.identity == "+46701230005"
    sent = (await s.get(f"/messages/{message_id}")).json()
    assert inbound.message.conversation_id == sent["conversation_id"]
    assert inbound.message.contact_id == sent["contact_id"]


@pytest.mark.parametrize("body, field", [
    ({"message": {"text_message": {"text": "x"}}}, "app_id"),
    ({"app_id": "A", "message": {"text_message": {"text": "x"}},
      "recipient": {"identified_by": {"channel_identities": [{"channel": "PIGEON", "identity": "1"}]}}}, "channel"),
    ({"app_id": "A", "message": {"media_message": {"url": "https://e.com/" + "a" * 3000}},
      "recipient": {"contact_id": "C"}}, "URL longer"),
    ({"app_id": "A", "message": {"text_message": {"text": "x"}, "card_message": {"title": "t"}},
      "recipient": {"contact_id": "C"}}, "exactly one"),
    ({"app_id": "A", "message": {"text_message": {"text": "x"}}, "ttl": "soon",
      "recipient": {"contact_id": "C"}}, "ttl"),
    ({"app_id": "A", "message": {"text_message": {"text": "x"}},
      "recipient": {"identified_by": {"channel_identities": [{"channel": "SMS", "identity": "12"}]}}}, "E.164"),
])
async def test_bad_input_is_a_conversation_error_and_writes_nothing(
        platform: Platform, http: httpx.AsyncClient, body: dict[str, Any], field: str) -> None:
    s = await session(platform, http)
    r = await s.post("/messages:send", body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
    assert field in error["message"]
    async with platform.ctx.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(conv_messages))).scalar() == 0
        assert (await conn.execute(select(func.count()).select_from(conv_contacts))).scalar() == 0


async def test_unknown_app_and_bad_token(platform: Platform, http: httpx.AsyncClient) -> None:
    s = await session(platform, http)
    r = await s.post("/messages:send", {
        "app_id": "NOPE", "message": {"text_message": {"text": "x"}},
        "recipient": {"identified_by": {"channel_identities": [{"channel": "SMS", "identity": "+46701230006"}]}}})
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
    r = await http.get(s.url("/apps"), headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED"
    r = await s.get("/no-such-thing")
    assert r.status_code == 404 and r.json()["error"]["code"] == 404
