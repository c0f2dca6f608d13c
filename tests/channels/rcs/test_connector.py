"""The RCS connector against the RBM twin over real HTTP: capability, send, receipts, replies,
postbacks, read receipts, typing, billing, and errors mapped at the boundary."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tidings.api.testing import serve_app
from tidings.channels.contract import ConnectorContext, InboundEvent, OutboundMessage, StatusEvent
from tidings.channels.rcs import RcsConnector, create
from tidings.channels.rcs.connector import rbm_message_id
from tidings.core.errors import ChannelAuthError, PermanentDeliveryError, TransientDeliveryError

from .conftest import AGENT, APP, RcsWorld, credentials

NUMBER = "+46701234567"


async def test_capability_follows_the_handset(rcs: RcsWorld) -> None:
    message = rcs.message({"text_message": {"text": "hi"}}, NUMBER)
    no = await rcs.connector.capability(message)
    assert not no.reachable and "RCS" in (no.reason or "")
    rcs.rcs_handset(NUMBER)
    assert (await rcs.connector.capability(message)).reachable
    rcs.sandbox.handset(NUMBER).reachable = False
    assert not (await rcs.connector.capability(message)).reachable


async def test_send_card_lands_natively_on_the_handset(rcs: RcsWorld) -> None:
    rcs.rcs_handset(NUMBER)
    content = {"card_message": {"title": "Your order", "description": "Ready for pickup",
                                "media_message": {"url": "https://cdn.example.com/box.png"},
                                "choices": [{"text_message": {"text": "On my way"}, "postback_data": "coming"}]}}
    message = rcs.message(content, NUMBER)
    result = await rcs.connector.send(message)
    assert result.channel_message_id == rbm_message_id(message)
    assert result.billing_category == "SINGLE_MESSAGE"
    assert result.details["billing"] == {"category": "SINGLE_MESSAGE", "message_type": "SINGLE_MESSAGE"}
    assert result.details["traffic_type"] == "TRANSACTION"
    [received] = await rcs.sandbox.wait_for_messages(NUMBER, 1)
    assert received.channel == "RCS" and received.sender == AGENT
    assert received.message_id == result.channel_message_id
    card = received.content["richCard"]["standaloneCard"]["cardContent"]  # type: ignore[index]
    assert card["title"] == "Your order"
    assert card["suggestions"][0]["reply"]["text"] == "On my way"


async def test_delivered_then_read_arrive_as_status_events(rcs: RcsWorld) -> None:
    rcs.rcs_handset(NUMBER)
    result = await rcs.connector.send(rcs.message({"text_message": {"text": "Hello"}}, NUMBER))
    assert result.billing_category == "BASIC_MESSAGE"
    events = await rcs.sink.wait_for(lambda e: isinstance(e, StatusEvent), count=2)
    assert [(e.status, e.channel_message_id) for e in events] == [  # type: ignore[union-attr]
        ("DELIVERED", result.channel_message_id), ("READ", result.channel_message_id)]
    assert events[0].at_ms <= events[1].at_ms


async def test_retry_of_the_same_message_is_not_delivered_twice(rcs: RcsWorld) -> None:
    rcs.rcs_handset(NUMBER)
    message = rcs.message({"text_message": {"text": "Once"}}, NUMBER)
    first = await rcs.connector.send(message)
    again = await rcs.connector.send(message)  # RBM answers 409 ALREADY_EXISTS: already accepted
    assert first.channel_message_id == again.channel_message_id
    await rcs.twin.idle()
    assert len(rcs.sandbox.messages_for(NUMBER)) == 1


async def test_user_reply_is_inbound_and_marked_read(rcs: RcsWorld) -> None:
    rcs.rcs_handset(NUMBER)
    handset = rcs.sandbox.handset(NUMBER)
    reply_id = await rcs.twin.handset_sends(handset, AGENT, body="Where is my parcel?", postback=None)
    [event] = await rcs.sink.wait_for(lambda e: isinstance(e, InboundEvent))
    assert isinstance(event, InboundEvent)
    assert (event.app_id, event.identity, event.channel_message_id) == (APP, NUMBER, reply_id)
    assert event.content == {"text_message": {"text": "Where is my parcel?"}}
    await rcs.connector.aclose()  # waits for the READ agent event
    assert reply_id in rcs.twin.read_by_agent
    assert rcs.twin.agents[AGENT].events[-1]["eventType"] == "READ"


async def test_tap_on_a_suggestion_maps_back_to_message_and_postback(rcs: RcsWorld) -> None:
    rcs.rcs_handset(NUMBER)
    content = {"choice_message": {"text_message": {"text": "Rate us"}, "choices": [
        {"text_message": {"text": "Great"}, "postback_data": "rating:5"},
        {"url_message": {"title": "Review", "url": "https://example.com/review"}, "postback_data": "review"}]}}
    message = rcs.message(content, NUMBER, message_id="01CONVMSG")
    await rcs.connector.send(message)
    handset = rcs.sandbox.handset(NUMBER)
    await rcs.sandbox.wait_for_messages(NUMBER, 1)
    await rcs.twin.handset_sends(handset, AGENT, body=None, postback="rating:5")
    await rcs.twin.handset_sends(handset, AGENT, body=None, postback="Review")  # tap by label
    events = await rcs.sink.wait_for(lambda e: isinstance(e, InboundEvent), count=2)
    assert [e.content for e in events] == [  # type: ignore[union-attr]
        {"choice_response_message": {"message_id": "01CONVMSG", "postback_data": "rating:5"}},
        {"choice_response_message": {"message_id": "01CONVMSG", "postback_data": "review"}},
    ]


async def test_typing_indicator(rcs: RcsWorld) -> None:
    rcs.rcs_handset(NUMBER)
    await rcs.connector.typing(credentials(), NUMBER)
    assert rcs.twin.agents[AGENT].events[-1]["eventType"] == "IS_TYPING"


async def test_billing_inside_a_conversation(rcs: RcsWorld) -> None:
    rcs.rcs_handset(NUMBER)
    now = rcs.sandbox.clock()
    reply = rcs.message({"text_message": {"text": "Sure"}}, NUMBER, last_inbound_ms=now - 60_000,
                        metadata={"last_outbound_ms": now - 120_000})
    assert (await rcs.connector.send(reply)).billing_category == "A2P_CONVERSATION"
    answer = rcs.message({"text_message": {"text": "Hi!"}}, NUMBER, message_id="01OTHER", last_inbound_ms=now - 5)
    result = await rcs.connector.send(answer)
    assert result.billing_category == "P2A_CONVERSATION"
    assert result.details["billing"]["message_type"] == "BASIC_MESSAGE"


async def test_recipient_without_rcs_is_permanent(rcs: RcsWorld) -> None:
    with pytest.raises(PermanentDeliveryError) as info:
        await rcs.connector.send(rcs.message({"text_message": {"text": "hi"}}, "+46709999999"))
    assert info.value.code == httpx.codes.NOT_FOUND
    assert "NOT_FOUND" in str(info.value)


async def test_wrong_token_is_a_channel_auth_error(rcs: RcsWorld) -> None:
    rcs.rcs_handset(NUMBER)
    with pytest.raises(ChannelAuthError, match="UNAUTHENTICATED"):
        await rcs.connector.send(rcs.message({"text_message": {"text": "hi"}}, NUMBER,
                                             credentials=credentials(token="wrong")))
    with pytest.raises(ChannelAuthError):
        await rcs.connector.capability(rcs.message({"text_message": {"text": "hi"}}, NUMBER,
                                                   credentials={"channel": "RCS"}))


async def test_platform_5xx_and_timeouts_are_transient() -> None:
    async def failing(request: Request) -> Response:
        return JSONResponse({"error": {"code": 503, "message": "unavailable", "status": "UNAVAILABLE"}}, 503,
                            headers={"Retry-After": "7"})

    async def slow(request: Request) -> Response:
        await asyncio.sleep(0.3)
        return JSONResponse({})

    app = Starlette(routes=[Route("/down/v1/phones/{phone}/agentMessages", failing, methods=["POST"]),
                            Route("/slow/v1/phones/{phone}/agentMessages", slow, methods=["POST"])])
    message = OutboundMessage(message_id="M", project_id="P", app_id=APP, channel="RCS", identity=NUMBER,
                              content={"text_message": {"text": "hi"}}, credentials=credentials())
    async with serve_app(app) as url, httpx.AsyncClient() as http:
        for path, retry_after in (("down", 7.0), ("slow", None)):
            connector = create(ConnectorContext(base_url=f"{url}/{path}", http=http, clock=lambda: 0,
                                                public_url="http://tidings.invalid"))
            connector.client.timeout = 0.05
            with pytest.raises(TransientDeliveryError) as info:
                await connector.send(message)
            if retry_after is not None:
                assert info.value.retry_after == retry_after
            else:
                assert "timed out" in str(info.value)


async def test_configure_app_registers_the_webhook_after_the_handshake(rcs: RcsWorld) -> None:
    agent = rcs.twin.agents[AGENT]
    assert agent.webhook_url == f"{rcs.url}/channels/rcs/apps/{APP}/webhook"
    assert agent.client_token == "client-token-secret"
    # An app whose client token the webhook does not know fails Google's verification.
    rcs.sink.apps[("OTHER", "RCS")] = credentials(agent="other@rbm.goog", client_token="right")
    with pytest.raises(ChannelAuthError, match="verification failed"):
        await rcs.connector.configure_app("OTHER", credentials(agent="other@rbm.goog", client_token="wrong"))


async def test_offline_user_holds_the_message_until_revoked_or_back_online(rcs: RcsWorld) -> None:
    rcs.rcs_handset(NUMBER)
    users = f"{rcs.url}/sandbox/platforms/rbm/console/users/{NUMBER}"
    assert (await rcs.http.put(users, json={"online": False})).status_code == 200
    held = rcs.message({"text_message": {"text": "held"}}, NUMBER, message_id="01HELD")
    await rcs.connector.send(held)  # accepted: RBM stores and forwards
    await asyncio.sleep(0.1)
    assert rcs.sandbox.messages_for(NUMBER) == []
    assert await rcs.connector.revoke(held) is True  # ttl ran out: take it back, fall back elsewhere
    later = rcs.message({"text_message": {"text": "later"}}, NUMBER, message_id="01LATER")
    await rcs.connector.send(later)
    assert (await rcs.http.put(users, json={"online": True})).status_code == 200
    [received] = await rcs.sandbox.wait_for_messages(NUMBER, 1)
    assert received.body == "later"
    await rcs.sink.wait_for(lambda e: isinstance(e, StatusEvent) and e.status == "DELIVERED")
    assert await rcs.connector.revoke(later) is False  # delivered already
    assert [e.channel_message_id for e in rcs.sink.events] == [rbm_message_id(later)] * len(rcs.sink.events)


async def test_console_registration_is_off_for_google_hosts() -> None:
    async with httpx.AsyncClient() as http:
        for base, console in (("https://rcsbusinessmessaging.googleapis.com", False),
                              ("https://europe-rcsbusinessmessaging.googleapis.com", False),
                              ("http://127.0.0.1:8080/sandbox/platforms/rbm", True)):
            connector = create(ConnectorContext(base_url=base, http=http, clock=lambda: 0, public_url="x"))
            assert connector.console is console
            if not console:  # nothing to call: the operator pastes the URL in Google's console
                await connector.configure_app(APP, credentials())


async def test_unreachable_platform_is_transient() -> None:
    async with httpx.AsyncClient() as http:
        connector = create(ConnectorContext(base_url="http://127.0.0.1:9", http=http, clock=lambda: 0,
                                            public_url="x"))
        message = OutboundMessage(message_id="M", project_id="P", app_id=APP, channel="RCS", identity=NUMBER,
                                  content={"text_message": {"text": "hi"}}, credentials=credentials())
        with pytest.raises(TransientDeliveryError):
            await connector.capability(message)


def test_manifest_matches_the_connector() -> None:
    import json
    from pathlib import Path

    import tidings.channels.rcs as package
    from tidings.channels.contract import ChannelFeature

    manifest = json.loads((Path(package.__file__).parent / "manifest.json").read_text())
    connector = RcsConnector
    assert manifest["id"] == connector.id == Path(package.__file__).parent.name
    assert manifest["channel"] == connector.channel
    assert {f.name for f in ChannelFeature if f in connector.features} == set(manifest["features"])
