"""The Viber connector against the sandbox twin over real HTTP: set_webhook, sends, signed
delivered/seen callbacks, keyboard and rich media taps, inbound messages, forged callbacks."""

from __future__ import annotations

import orjson

from tests.channels.viber.conftest import (
    APP_ID,
    CREDENTIALS,
    HANDSET,
    TOKEN,
    USER_ID,
    Rig,
)
from tidings.channels.viber.restapi import SIGNATURE_HEADER, sign

CHOICES = {"choice_message": {"text_message": {"text": "Which size?"}, "choices": [
    {"text_message": {"text": "Small"}, "postback_data": "size:S"},
    {"text_message": {"text": "Large"}, "postback_data": "size:L"},
    {"url_message": {"title": "Size guide", "url": "https://shop.example.com/sizes"}},
    {"call_message": {"title": "Call us", "phone_number": "+46812345678"}}]}}


async def test_configure_app_sets_the_webhook(rig: Rig) -> None:
    info = await rig.call("get_account_info", {})
    assert info["status"] == 0
    assert info["webhook"] == f"{rig.url}/channels/viber/apps/{APP_ID}/webhook"
    assert info["event_types"] == ["delivered", "seen", "failed", "subscribed", "unsubscribed",
                                   "conversation_started"]


async def test_text_is_delivered_then_seen(rig: Rig) -> None:
    rig.viber_handset()
    result = await rig.connector.send(rig.message({"text_message": {"text": "Hello from Acme"}}))
    assert result.channel_message_id.isdigit()
    delivered = await rig.sink.wait_status(result.channel_message_id, "DELIVERED")
    await rig.sink.wait_status(result.channel_message_id, "READ")
    assert rig.sink.statuses(result.channel_message_id) == ["DELIVERED", "READ"]
    assert delivered.channel == "VIBER" and delivered.at_ms > 0
    [received] = rig.sandbox.messages_for(HANDSET)
    assert received.channel == "VIBER" and received.body == "Hello from Acme"
    assert received.content == {"receiver": USER_ID, "sender": {"name": "Acme Support"}, "type": "text",
                                "text": "Hello from Acme", "min_api_version": 1}


async def test_no_seen_when_read_receipts_are_off(rig: Rig) -> None:
    rig.viber_handset()
    await rig.http.put(f"{rig.api}/console/settings", json={"read_receipts": False})
    result = await rig.connector.send(rig.message({"text_message": {"text": "hi"}}))
    await rig.sink.wait_status(result.channel_message_id, "DELIVERED")
    await rig.twin.idle()
    assert rig.sink.statuses(result.channel_message_id) == ["DELIVERED"]


async def test_keyboard_tap_is_a_choice_response_for_the_message(rig: Rig) -> None:
    handset = rig.viber_handset()
    result = await rig.connector.send(rig.message(CHOICES, message_id="01CONVMSG"))
    await rig.sink.wait_status(result.channel_message_id, "DELIVERED")
    [received] = rig.sandbox.messages_for(HANDSET)
    assert received.content is not None
    assert received.content["text"] == "Which size?\nCall us: +46812345678"
    buttons = received.content["keyboard"]["Buttons"]
    assert [(b["ActionType"], b["ActionBody"], b["Text"]) for b in buttons] == [
        ("reply", "tdg1:01CONVMSG:size:S", "Small"), ("reply", "tdg1:01CONVMSG:size:L", "Large"),
        ("open-url", "https://shop.example.com/sizes", "Size guide")]
    assert "[Large]" in received.body
    await rig.twin.handset_sends(handset, rig.account.uri, body=None, postback="size:L")
    [event] = await rig.sink.wait_inbound()
    assert event.content == {"choice_response_message": {"message_id": "01CONVMSG", "postback_data": "size:L"}}
    assert event.identity == USER_ID and event.display_name == HANDSET
    [tap] = rig.sandbox.handset(HANDSET).sent
    assert tap.body == "Large" and tap.content is not None and tap.content["silent"] is True


async def test_card_is_rich_media_and_its_button_can_be_tapped(rig: Rig) -> None:
    handset = rig.viber_handset()
    result = await rig.connector.send(rig.message({"card_message": {
        "title": "Blue shoes", "description": "Size 42 <in stock>",
        "media_message": {"url": "https://cdn.example.com/shoes.jpg"},
        "choices": [{"text_message": {"text": "Buy"}, "postback_data": "buy"}]}}))
    await rig.sink.wait_status(result.channel_message_id, "DELIVERED")
    [received] = rig.sandbox.messages_for(HANDSET)
    assert received.content is not None and received.content["type"] == "rich_media"
    rich = received.content["rich_media"]
    assert sum(b["Rows"] for b in rich["Buttons"]) == rich["ButtonsGroupRows"] == 7
    assert rich["Buttons"][0]["Image"] == "https://cdn.example.com/shoes.jpg"
    assert rich["Buttons"][1]["Text"] == "<b>Blue shoes</b><br>Size 42 &lt;in stock&gt;"
    await rig.twin.handset_sends(handset, rig.account.account_id, body=None, postback="Buy")
    [event] = await rig.sink.wait_inbound()
    assert event.content["choice_response_message"] == {"message_id": "01MSG", "postback_data": "buy"}


async def test_location_with_title_is_text_then_location(rig: Rig) -> None:
    rig.viber_handset()
    result = await rig.connector.send(rig.message({"location_message": {
        "title": "Head office", "coordinates": {"latitude": 59.33, "longitude": 18.06}}}))
    assert len(result.details["channel_message_ids"]) == 2
    await rig.sink.wait_status(result.channel_message_id, "DELIVERED")
    messages = rig.sandbox.messages_for(HANDSET)
    assert sorted(m.content["type"] for m in messages) == ["location", "text"]  # type: ignore[index]


async def test_handset_text_picture_and_location_arrive_inbound(rig: Rig) -> None:
    handset = rig.viber_handset()
    token = await rig.twin.handset_sends(handset, rig.account.name, body="Where is my order?", postback=None)
    await rig.twin.handset_sends_media(handset, rig.account.uri, url="https://files.example.com/r.jpg",
                                       mime_type="image/jpeg")
    await rig.twin.handset_shares_location(handset, rig.account.uri, 59.3, 18.1)
    events = await rig.sink.wait_inbound(3)
    assert [e.content for e in events] == [
        {"text_message": {"text": "Where is my order?"}},
        {"media_message": {"url": "https://files.example.com/r.jpg"}},
        {"location_message": {"coordinates": {"latitude": 59.3, "longitude": 18.1}}}]
    assert events[0].channel_message_id == token and events[0].app_id == APP_ID


async def test_failed_callback_becomes_a_failed_status(rig: Rig) -> None:
    rig.viber_handset()
    await rig.http.put(f"{rig.api}/console/settings", json={"read_receipts": False})
    result = await rig.connector.send(rig.message({"text_message": {"text": "hi"}}))
    await rig.sink.wait_status(result.channel_message_id, "DELIVERED")
    await rig.twin.fail(int(result.channel_message_id), "device does not support rich media")
    failed = await rig.sink.wait_status(result.channel_message_id, "FAILED")
    assert failed.reason == "device does not support rich media"


async def test_forged_or_unsigned_callbacks_are_refused(rig: Rig) -> None:
    url = f"{rig.url}/channels/viber/apps/{APP_ID}/webhook"
    callback = orjson.dumps({"event": "message", "timestamp": 1, "message_token": 5, "sender": {"id": USER_ID},
                             "message": {"type": "text", "text": "forged"}})
    for headers in ({}, {SIGNATURE_HEADER: "00" * 32}, {SIGNATURE_HEADER: sign("other-token", callback)}):
        response = await rig.http.post(url, content=callback, headers=headers)
        assert response.status_code == 401
    unknown = await rig.http.post(f"{rig.url}/channels/viber/apps/NOPE/webhook", content=callback,
                                  headers={SIGNATURE_HEADER: sign(TOKEN, callback)})
    assert unknown.status_code == 404
    assert rig.sink.events == []
    good = await rig.http.post(url, content=callback, headers={SIGNATURE_HEADER: sign(TOKEN, callback)})
    assert good.status_code == 200
    assert [e.content for e in rig.sink.inbound()] == [{"text_message": {"text": "forged"}}]


async def test_set_webhook_fails_when_the_url_does_not_answer(rig: Rig) -> None:
    import pytest

    from tidings.core.errors import TransientDeliveryError

    rig.connector.ctx.public_url = f"{rig.url}/nowhere"
    with pytest.raises(TransientDeliveryError, match="invalidUrl|is not 200"):
        await rig.connector.configure_app(APP_ID, CREDENTIALS)
    assert (await rig.call("get_account_info", {}))["webhook"] == f"{rig.url}/channels/viber/apps/{APP_ID}/webhook"
