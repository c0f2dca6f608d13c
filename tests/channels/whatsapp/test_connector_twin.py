"""The connector against the sandbox twin over real HTTP: sends, statuses, replies and taps."""

from __future__ import annotations

import orjson
import pytest

from tests.channels.whatsapp.conftest import APP_ID, CREDENTIALS, HANDSET, PHONE_NUMBER_ID, TOKEN, Rig
from tidings.channels.whatsapp import policy
from tidings.channels.whatsapp.graph import API_VERSION, ErrorCode, sign
from tidings.core.errors import PermanentDeliveryError

TEMPLATE = {"template_message": {"channel_template": {"WHATSAPP": {
    "template_id": "order_update", "language_code": "EN_US",
    "parameters": {"body[1]text": "Bob", "body[2]text": "A-42", "button[2]url[1]text": "A-42",
                   "button[0]quick_reply[1]payload": "track:A-42"}}}}}


async def test_configure_app_registers_webhook_with_the_console(rig: Rig) -> None:
    response = await rig.http.get(f"{rig.graph}/console/phone_numbers/{PHONE_NUMBER_ID}")
    body = response.json()
    assert body["webhook_url"] == f"{rig.url}/channels/whatsapp/apps/{APP_ID}/webhook"
    assert body["app_secret_set"] and body["verify_token_set"]
    verified = await rig.http.post(f"{rig.graph}/console/phone_numbers/{PHONE_NUMBER_ID}/verify_webhook")
    assert verified.status_code == 200, verified.text
    assert verified.json() == {"success": True}


async def test_text_in_window_is_delivered_then_read(rig: Rig) -> None:
    await rig.handset_writes("hello")
    result = await rig.connector.send(rig.message({"text_message": {"text": "Hi there"}}))
    assert result.channel_message_id.startswith("wamid.")
    assert result.billing_category == "SERVICE"
    delivered = await rig.sink.wait_status(result.channel_message_id, "DELIVERED")
    await rig.sink.wait_status(result.channel_message_id, "READ")
    assert rig.sink.statuses(result.channel_message_id) == ["DELIVERED", "READ"]
    assert delivered.channel == "WHATSAPP" and delivered.at_ms > 0
    inbox = rig.sandbox.messages_for(HANDSET)
    assert [m.body for m in inbox] == ["Hi there"]
    assert inbox[0].channel == "WHATSAPP"
    assert inbox[0].content is not None and inbox[0].content["text"]["body"] == "Hi there"


async def test_outside_window_non_template_refused_before_sending(rig: Rig) -> None:
    rig.whatsapp_handset()
    old = rig.sandbox.clock() - 25 * 3600 * 1000
    for last in (None, old):
        message = rig.message({"text_message": {"text": "hi"}}, last_inbound_ms=last)
        capability = await rig.connector.capability(message)
        assert not capability.reachable and capability.reason == policy.OUTSIDE_WINDOW
        with pytest.raises(PermanentDeliveryError) as caught:
            await rig.connector.send(message)
        assert str(caught.value) == "outside 24h window, template required"
        assert caught.value.code == ErrorCode.RE_ENGAGEMENT
    await rig.twin.idle()
    assert rig.sandbox.messages_for(HANDSET) == []


async def test_business_initiated_template_needs_opt_in(rig: Rig) -> None:
    rig.whatsapp_handset()
    message = rig.message(TEMPLATE, last_inbound_ms=None)
    capability = await rig.connector.capability(message)
    assert not capability.reachable and capability.reason == policy.NO_OPT_IN
    with pytest.raises(PermanentDeliveryError, match="opt-in"):
        await rig.connector.send(message)
    only_marketing = rig.message(TEMPLATE, last_inbound_ms=None, metadata={policy.OPT_IN_KEY: ["engagement"]})
    assert not (await rig.connector.capability(only_marketing)).reachable


async def test_template_with_variables_and_buttons_then_quick_reply_tap(rig: Rig) -> None:
    rig.whatsapp_handset()
    message = rig.message(TEMPLATE, last_inbound_ms=None, metadata={policy.OPT_IN_KEY: True})
    assert (await rig.connector.capability(message)).reachable
    result = await rig.connector.send(message)
    assert result.billing_category == "UTILITY"
    await rig.sink.wait_status(result.channel_message_id, "DELIVERED")
    [received] = rig.sandbox.messages_for(HANDSET)
    assert "Hi Bob, your order A-42 has shipped." in received.body
    assert "[Order details: https://shop.example.com/orders/A-42]" in received.body
    assert received.content is not None and received.content["template"]["name"] == "order_update"
    # the handset taps "Track it" through the sandbox API
    response = await rig.http.post(f"{rig.url}/sandbox/v1/handsets/{HANDSET}/messages",
                                   json={"channel": "WHATSAPP", "to": PHONE_NUMBER_ID, "postback": "track:A-42"})
    assert response.status_code == 202, response.text
    [tap] = await rig.sink.wait_inbound(1)
    assert tap.content == {"choice_response_message": {"message_id": result.channel_message_id,
                                                       "postback_data": "track:A-42"}}
    assert tap.reply_to_channel_message_id == result.channel_message_id
    assert tap.identity == HANDSET and tap.app_id == APP_ID


async def test_twin_enforces_the_window_too(rig: Rig) -> None:
    """Our side believes the window is open (a stale last_inbound_ms); the platform does not."""
    rig.whatsapp_handset()
    result = await rig.connector.send(rig.message({"text_message": {"text": "hi"}}))
    failed = await rig.sink.wait_status(result.channel_message_id, "FAILED")
    assert failed.reason == f"{ErrorCode.RE_ENGAGEMENT}: Re-engagement message"
    assert rig.sandbox.messages_for(HANDSET) == []


async def test_number_without_whatsapp_fails_undeliverable(rig: Rig) -> None:
    message = rig.message({"text_message": {"text": "hi"}}, identity="+46709999999")
    assert (await rig.connector.capability(message)).reachable  # the Cloud API has no contacts check
    result = await rig.connector.send(message)
    failed = await rig.sink.wait_status(result.channel_message_id, "FAILED")
    assert failed.reason == f"{ErrorCode.UNDELIVERABLE}: Message undeliverable"


async def test_buttons_and_list_taps_come_back_as_postbacks(rig: Rig) -> None:
    await rig.handset_writes("menu?")
    buttons = {"choice_message": {"text_message": {"text": "Pick"}, "choices": [
        {"text_message": {"text": "Yes"}, "postback_data": "yes-1"},
        {"text_message": {"text": "No"}, "postback_data": "no-1"}]}}
    first = await rig.connector.send(rig.message(buttons))
    many = {"choice_message": {"text_message": {"text": "Size?"}, "choices": [
        {"text_message": {"text": s}, "postback_data": f"size:{s}"} for s in ("XS", "S", "M", "L", "XL")]}}
    second = await rig.connector.send(rig.message(many))
    await rig.sink.wait_status(second.channel_message_id, "DELIVERED")
    inbox = rig.sandbox.messages_for(HANDSET)
    assert inbox[-1].content is not None and inbox[-1].content["interactive"]["type"] == "list"
    handset = rig.whatsapp_handset()
    await rig.twin.handset_sends(handset, PHONE_NUMBER_ID, body=None, postback="no-1")
    await rig.twin.handset_sends(handset, PHONE_NUMBER_ID, body=None, postback="size:L")
    events = await rig.sink.wait_inbound(3)
    assert [e.content for e in events[1:]] == [
        {"choice_response_message": {"message_id": first.channel_message_id, "postback_data": "no-1"}},
        {"choice_response_message": {"message_id": second.channel_message_id, "postback_data": "size:L"}},
    ]


async def test_inbound_text_and_media(rig: Rig) -> None:
    await rig.handset_writes("Where is my parcel?")
    handset = rig.whatsapp_handset()
    await rig.twin.handset_sends_media(handset, PHONE_NUMBER_ID, url="https://cdn.example/p.jpg", mime_type="image/jpeg")
    text, media = await rig.sink.wait_inbound(2)
    assert text.content == {"text_message": {"text": "Where is my parcel?"}}
    assert text.identity == HANDSET and text.display_name == HANDSET and text.channel_message_id.startswith("wamid.")
    assert media.content == {"media_message": {"url": "https://cdn.example/p.jpg"}}
    assert [m.body for m in handset.sent] == ["Where is my parcel?", "https://cdn.example/p.jpg"]


async def test_carousel_goes_out_as_a_sequence(rig: Rig) -> None:
    await rig.handset_writes("show me")
    carousel = {"carousel_message": {"cards": [
        {"title": f"Shoe {i}", "description": "Nice", "media_message": {"url": f"https://cdn.example/{i}.png"},
         "choices": [{"text_message": {"text": "Buy"}, "postback_data": f"buy:{i}"}]} for i in (1, 2)],
        "choices": [{"text_message": {"text": "More"}, "postback_data": "more"}]}}
    result = await rig.connector.send(rig.message(carousel))
    ids = result.details["channel_message_ids"]
    assert len(ids) == 3 and ids[-1] == result.channel_message_id
    await rig.sink.wait_status(ids[-1], "DELIVERED")
    await rig.twin.idle()
    kinds = [m.content["interactive"]["type"] for m in rig.sandbox.messages_for(HANDSET) if m.content]
    assert kinds == ["button", "button", "button"]
    await rig.twin.handset_sends(rig.whatsapp_handset(), PHONE_NUMBER_ID, body=None, postback="buy:2")
    events = await rig.sink.wait_inbound(2)
    assert events[-1].content["choice_response_message"] == {"message_id": ids[1], "postback_data": "buy:2"}


async def _post_webhook(rig: Rig, app_id: str, body: bytes, signature: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    response = await rig.http.post(f"{rig.url}/channels/whatsapp/apps/{app_id}/webhook", content=body, headers=headers)
    return response.status_code


def _status_payload(wamid: str = "wamid.X", phone_number_id: str = PHONE_NUMBER_ID) -> bytes:
    return orjson.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp",
                                       "metadata": {"display_phone_number": "1555", "phone_number_id": phone_number_id},
                                       "statuses": [{"id": wamid, "status": "delivered", "timestamp": "1700000000",
                                                     "recipient_id": "46701234567"}]}}]}]})


async def test_signed_webhook_accepted_forged_rejected(rig: Rig) -> None:
    body = _status_payload()
    assert await _post_webhook(rig, APP_ID, body, sign("meta-app-secret", body)) == 200
    assert rig.sink.statuses("wamid.X") == ["DELIVERED"]
    forged = _status_payload("wamid.FORGED")
    assert await _post_webhook(rig, APP_ID, forged, sign("guessed-secret", forged)) == 401
    assert await _post_webhook(rig, APP_ID, forged, None) == 401
    assert await _post_webhook(rig, APP_ID, forged, sign("meta-app-secret", body)) == 401  # another body's
    assert await _post_webhook(rig, "01NOSECRET", forged, sign("", forged)) == 401
    assert await _post_webhook(rig, "01UNKNOWN", forged, sign("meta-app-secret", forged)) == 404
    assert rig.sink.statuses("wamid.FORGED") == []
    other_number = _status_payload("wamid.OTHER", "999")
    assert await _post_webhook(rig, APP_ID, other_number, sign("meta-app-secret", other_number)) == 200
    assert rig.sink.statuses("wamid.OTHER") == []


async def test_verification_handshake(rig: Rig) -> None:
    url = f"{rig.url}/channels/whatsapp/apps/{APP_ID}/webhook"
    token = rig.connector.verify_token(APP_ID, rig.sink.apps[APP_ID])
    ok = await rig.http.get(url, params={"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.text == "1158201444"
    bad = await rig.http.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"})
    assert bad.status_code == 403


async def test_a_composing_event_is_the_typing_indicator_on_the_contacts_newest_message(rig: Rig) -> None:
    from tidings.channels.contract import InboundRef
    from tidings.core.errors import OutsideSendingWindow

    assert rig.connector.app_events == frozenset({"composing_event"})  # the platform has no call ending it
    wamid = await rig.handset_writes("anyone there?")
    now = rig.sandbox.clock()
    await rig.connector.send_event(CREDENTIALS, HANDSET, {"composing_event": {}},
                                   last_inbound=InboundRef(wamid, now - 1_000))
    assert [(m["handset"], m["message_id"], m["typing"]) for m in rig.twin.read_marks] == [(HANDSET, wamid, True)]
    assert rig.sandbox.messages_for(HANDSET) == []  # nothing lands in the inbox
    # No message from the contact, or none in the last 24 hours: refused before any call.
    for last in (None, InboundRef(wamid, now - 25 * 3600 * 1000)):
        with pytest.raises(OutsideSendingWindow) as caught:
            await rig.connector.send_event(CREDENTIALS, HANDSET, {"composing_event": {}}, last_inbound=last)
        assert caught.value.code == ErrorCode.RE_ENGAGEMENT
    # A message id the number never received: the platform refuses it (permanent, Graph code 100).
    with pytest.raises(PermanentDeliveryError) as refused:
        await rig.connector.send_event(CREDENTIALS, HANDSET, {"composing_event": {}},
                                       last_inbound=InboundRef("wamid.unknown", now))
    assert not isinstance(refused.value, OutsideSendingWindow) and refused.value.code == ErrorCode.INVALID_PARAMETER
    assert len(rig.twin.read_marks) == 1


async def test_the_twin_checks_a_read_mark(rig: Rig) -> None:
    wamid = await rig.handset_writes("hi")
    url = f"{rig.graph}/{API_VERSION}/{PHONE_NUMBER_ID}/messages"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for body in ({"messaging_product": "whatsapp", "status": "delivered", "message_id": wamid},
                 {"messaging_product": "whatsapp", "status": "read", "message_id": wamid,
                  "typing_indicator": {"type": "audio"}}):
        refused = await rig.http.post(url, json=body, headers=headers)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == ErrorCode.INVALID_PARAMETER
    read = await rig.http.post(url, json={"messaging_product": "whatsapp", "status": "read", "message_id": wamid},
                               headers=headers)
    assert read.status_code == 200 and read.json() == {"success": True}
    assert [(m["message_id"], m["typing"]) for m in rig.twin.read_marks] == [(wamid, False)]
