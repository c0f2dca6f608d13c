"""The connector against the sandbox twin over real HTTP: sends, watermarks, replies and taps."""

from __future__ import annotations

import pytest

from tests.channels.messenger.conftest import APP_ID, HANDSET, PAGE_ID, PSID, TOKEN, Rig
from tidings.channels.messenger import policy
from tidings.channels.messenger.graph import ErrorCode
from tidings.core.errors import PermanentDeliveryError

DAY_MS = 24 * 3600 * 1000


async def test_configure_app_registers_webhook_with_the_console(rig: Rig) -> None:
    response = await rig.http.get(f"{rig.graph}/console/pages/{PAGE_ID}")
    body = response.json()
    assert body["webhook_url"] == f"{rig.url}/channels/messenger/apps/{APP_ID}/webhook"
    assert body["app_secret_set"] and body["verify_token_set"]
    verified = await rig.http.post(f"{rig.graph}/console/pages/{PAGE_ID}/verify_webhook")
    assert verified.status_code == 200, verified.text
    assert verified.json() == {"success": True}


async def test_text_in_window_is_delivered_then_read(rig: Rig) -> None:
    await rig.handset_writes("hello")
    sent_after = rig.sandbox.clock()
    result = await rig.connector.send(rig.message({"text_message": {"text": "Hi there"}}))
    assert result.channel_message_id.startswith("m_")
    assert result.details["messaging_type"] == "RESPONSE" and result.details["tag"] is None
    delivered = await rig.sink.wait_status(result.channel_message_id, "DELIVERED")
    await rig.sink.wait_read(sent_after, PSID)
    assert rig.sink.statuses(result.channel_message_id) == ["DELIVERED"]
    assert len(rig.sink.read_watermarks(PSID)) == 1
    assert delivered.channel == "MESSENGER" and delivered.at_ms > 0
    [received] = rig.sandbox.messages_for(HANDSET)
    assert received.body == "Hi there" and received.channel == "MESSENGER"
    assert received.content is not None
    assert received.content["recipient"] == {"id": PSID} and received.content["message"] == {"text": "Hi there"}


async def test_read_watermark_covers_every_earlier_message(rig: Rig) -> None:
    """Reads carry only a watermark: one READ watermark event for the person, covering every
    message sent before it (the event processor resolves it against the stored sends)."""
    await rig.http.put(f"{rig.graph}/console/settings", json={"read_receipts": False})
    await rig.handset_writes("hello")
    first = await rig.connector.send(rig.message({"text_message": {"text": "one"}}))
    second = await rig.connector.send(rig.message({"text_message": {"text": "two"}}))
    await rig.twin.idle()
    assert rig.sink.statuses(first.channel_message_id) == ["DELIVERED"]
    assert rig.sink.read_watermarks(PSID) == []
    await rig.http.put(f"{rig.graph}/console/settings", json={"read_receipts": True})
    third_after = rig.sandbox.clock()
    third = await rig.connector.send(rig.message({"text_message": {"text": "three"}}))
    mark = await rig.sink.wait_read(third_after, PSID)
    await rig.twin.idle()
    assert rig.sink.read_watermarks(PSID) == [mark]
    [event] = [e for e in rig.sink.events if getattr(e, "up_to_ms", None) == mark]
    assert event.channel_message_id == "" and event.app_id == APP_ID and event.at_ms == mark
    for result in (first, second, third):
        assert rig.sink.statuses(result.channel_message_id) == ["DELIVERED"]


async def test_outside_window_untagged_refused_before_sending(rig: Rig) -> None:
    rig.messenger_handset()
    for last in (None, rig.sandbox.clock() - 25 * 3600 * 1000):
        message = rig.message({"text_message": {"text": "hi"}}, last_inbound_ms=last)
        capability = await rig.connector.capability(message)
        assert not capability.reachable and capability.reason == policy.OUTSIDE_WINDOW
        with pytest.raises(PermanentDeliveryError) as caught:
            await rig.connector.send(message)
        assert str(caught.value) == "outside 24h window, message tag required"
        assert caught.value.code == ErrorCode.PERMISSION_DENIED
    await rig.twin.idle()
    assert rig.sandbox.messages_for(HANDSET) == []


async def test_message_tag_goes_outside_the_window(rig: Rig) -> None:
    await rig.handset_writes("order placed?")
    wrote = rig.sandbox.clock()
    real = rig.sandbox.clock
    rig.twin.clock = rig.connector.ctx.clock = lambda: real() + 2 * DAY_MS
    untagged = rig.message({"text_message": {"text": "Your order shipped"}}, last_inbound_ms=wrote)
    assert (await rig.connector.capability(untagged)).reason == policy.OUTSIDE_WINDOW
    tags = {"channel_properties": {"MESSENGER_MESSAGE_TAG": "POST_PURCHASE_UPDATE"}}
    tagged = rig.message({"text_message": {"text": "Your order shipped"}}, last_inbound_ms=wrote, metadata=tags)
    assert (await rig.connector.capability(tagged)).reachable
    result = await rig.connector.send(tagged)
    assert result.details["messaging_type"] == "MESSAGE_TAG" and result.details["tag"] == "POST_PURCHASE_UPDATE"
    await rig.sink.wait_status(result.channel_message_id, "DELIVERED")
    assert rig.twin.requests[-1]["tag"] == "POST_PURCHASE_UPDATE"
    assert rig.twin.requests[-1]["messaging_type"] == "MESSAGE_TAG"
    # the human-agent tag lasts 7 days, on our side and on the platform's
    rig.twin.clock = rig.connector.ctx.clock = lambda: real() + 8 * DAY_MS
    agent = rig.message({"text_message": {"text": "x"}}, last_inbound_ms=wrote,
                        metadata={"channel_properties": {"MESSENGER_MESSAGE_TAG": "HUMAN_AGENT"}})
    assert "7 days" in str((await rig.connector.capability(agent)).reason)
    response = await rig.http.post(f"{rig.graph}/v21.0/me/messages", params={"access_token": TOKEN}, json={
        "recipient": {"id": PSID}, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT",
        "message": {"text": "x"}})
    assert response.status_code == 400
    assert response.json()["error"]["error_subcode"] == 2018278
    # tags never carry promotions; unknown tags are refused
    promo = rig.message({"text_message": {"text": "50% off"}}, last_inbound_ms=wrote, purpose="engagement",
                        metadata={"channel_properties": {"MESSENGER_MESSAGE_TAG": "ACCOUNT_UPDATE"}})
    assert (await rig.connector.capability(promo)).reason == policy.PROMOTIONAL_TAG
    unknown = rig.message({"text_message": {"text": "x"}},
                          metadata={"channel_properties": {"MESSENGER_MESSAGE_TAG": "WHATEVER"}})
    assert "unknown Messenger message tag" in str((await rig.connector.capability(unknown)).reason)


async def test_twin_enforces_the_window_too(rig: Rig) -> None:
    """Our side believes the window is open (a stale last_inbound_ms); the platform refuses at once."""
    rig.messenger_handset()
    with pytest.raises(PermanentDeliveryError) as caught:
        await rig.connector.send(rig.message({"text_message": {"text": "hi"}}))
    assert caught.value.code == ErrorCode.PERMISSION_DENIED
    assert "outside of allowed window" in str(caught.value) and "2018278" in str(caught.value)
    assert rig.sandbox.messages_for(HANDSET) == []


async def test_person_without_messenger_or_unavailable(rig: Rig) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        await rig.connector.send(rig.message({"text_message": {"text": "hi"}}, identity="psid-46709999999"))
    assert caught.value.code == ErrorCode.INVALID_PARAMETER and "No matching user found" in str(caught.value)
    await rig.handset_writes("hi")
    rig.messenger_handset().reachable = False
    with pytest.raises(PermanentDeliveryError) as caught:
        await rig.connector.send(rig.message({"text_message": {"text": "hi"}}))
    assert caught.value.code == ErrorCode.USER_UNAVAILABLE and "isn't available" in str(caught.value)


async def test_quick_replies_come_back_as_postbacks_answering_the_message(rig: Rig) -> None:
    await rig.handset_writes("menu?")
    choice = {"choice_message": {"text_message": {"text": "Pick a size"}, "choices": [
        {"text_message": {"text": s}, "postback_data": f"size:{s}"} for s in ("S", "M", "L", "XL")]}}
    result = await rig.connector.send(rig.message(choice))
    await rig.sink.wait_status(result.channel_message_id, "DELIVERED")
    [shown] = rig.sandbox.messages_for(HANDSET)
    assert shown.body == "Pick a size\n(S | M | L | XL)"
    response = await rig.http.post(f"{rig.url}/sandbox/v1/handsets/{HANDSET}/messages",
                                   json={"channel": "MESSENGER", "to": PAGE_ID, "postback": "size:L"})
    assert response.status_code == 202, response.text
    events = await rig.sink.wait_inbound(2)
    tap = events[-1]
    assert tap.content == {"choice_response_message": {"message_id": "", "postback_data": "size:L"}}
    assert tap.reply_to_channel_message_id == result.channel_message_id
    assert tap.identity == PSID and tap.app_id == APP_ID


async def test_card_buttons_postback_url_and_dial(rig: Rig) -> None:
    await rig.handset_writes("show me")
    card = {"card_message": {"title": "Red shoe", "description": "Size 42", "media_message": {
        "url": "https://cdn.example/shoe.png"}, "choices": [
        {"text_message": {"text": "Buy"}, "postback_data": "buy:shoe"},
        {"url_message": {"title": "Details", "url": "https://shop.example/shoe"}},
        {"call_message": {"title": "Call us", "phone_number": "+46700000000"}}]}}
    result = await rig.connector.send(rig.message(card))
    await rig.sink.wait_status(result.channel_message_id, "DELIVERED")
    [shown] = rig.sandbox.messages_for(HANDSET)
    assert shown.body == ("Red shoe\nSize 42\nhttps://cdn.example/shoe.png\n[Buy]\n"
                          "[Details: https://shop.example/shoe]\n[Call us: +46700000000]")
    await rig.twin.handset_sends(rig.messenger_handset(), PAGE_ID, body=None, postback="buy:shoe")
    events = await rig.sink.wait_inbound(2)
    assert events[-1].content == {"choice_response_message": {"message_id": "", "postback_data": "buy:shoe"}}
    assert events[-1].reply_to_channel_message_id == result.channel_message_id
    with pytest.raises(LookupError):
        await rig.twin.handset_sends(rig.messenger_handset(), PAGE_ID, body=None, postback="Details")


async def test_carousel_with_outer_action_is_two_messages(rig: Rig) -> None:
    await rig.handset_writes("catalogue")
    carousel = {"carousel_message": {"cards": [
        {"title": f"Shoe {i}", "description": "Nice", "media_message": {"url": f"https://cdn.example/{i}.png"},
         "choices": [{"text_message": {"text": "Buy"}, "postback_data": f"buy:{i}"}]} for i in (1, 2)],
        "choices": [{"url_message": {"title": "Shop", "url": "https://shop.example"}},
                    {"text_message": {"text": "More"}, "postback_data": "more"}]}}
    result = await rig.connector.send(rig.message(carousel))
    ids = result.details["channel_message_ids"]
    assert len(ids) == 2 and ids[-1] == result.channel_message_id
    await rig.sink.wait_status(ids[-1], "DELIVERED")
    await rig.twin.idle()
    templates = [m.content["message"]["attachment"]["payload"]["template_type"]
                 for m in rig.sandbox.messages_for(HANDSET) if m.content]
    assert templates == ["generic", "button"]
    await rig.twin.handset_sends(rig.messenger_handset(), PAGE_ID, body=None, postback="buy:2")
    await rig.twin.handset_sends(rig.messenger_handset(), PAGE_ID, body=None, postback="more")
    events = await rig.sink.wait_inbound(3)
    assert [e.reply_to_channel_message_id for e in events[1:]] == ids
    assert [e.content["choice_response_message"]["postback_data"] for e in events[1:]] == ["buy:2", "more"]


async def test_inbound_text_and_media(rig: Rig) -> None:
    await rig.handset_writes("Where is my parcel?")
    handset = rig.messenger_handset()
    await rig.twin.handset_sends_attachment(handset, PAGE_ID, url="https://cdn.example/p.jpg")
    text, media = await rig.sink.wait_inbound(2)
    assert text.content == {"text_message": {"text": "Where is my parcel?"}}
    assert text.identity == PSID and text.channel_message_id.startswith("m_")
    assert media.content == {"media_message": {"url": "https://cdn.example/p.jpg"}}
    assert [m.body for m in handset.sent] == ["Where is my parcel?", "https://cdn.example/p.jpg"]


async def test_statuses_survive_a_failed_store(rig: Rig) -> None:
    """The webhook answers 500 when the events could not be stored; the platform's retry still
    yields every status (watermarks are only noted once stored)."""
    await rig.handset_writes("hi")
    rig.sink.fail_next = 1
    sent_after = rig.sandbox.clock()
    result = await rig.connector.send(rig.message({"text_message": {"text": "x"}}))
    await rig.sink.wait_read(sent_after, PSID)
    assert rig.sink.statuses(result.channel_message_id) == ["DELIVERED"]
    assert rig.twin.webhook_failures == 0 and rig.sink.fail_next == 0
