"""The Telegram connector against the sandbox twin over real HTTP: webhook registration, sends,
DELIVERED on acceptance, replies, button taps, media, and the secret token check."""

from __future__ import annotations

import httpx
import orjson
import pytest

from tests.channels.telegram.conftest import (
    APP_ID,
    BOT_ID,
    CHAT_ID,
    CREDENTIALS,
    HANDSET,
    TOKEN,
    Rig,
)
from tidings.channels.telegram.botapi import SECRET_HEADER, derive_secret_token
from tidings.channels.telegram.transcode import HASHED_PREFIX

CHOICES = {"choice_message": {"text_message": {"text": "Which size?"}, "choices": [
    {"text_message": {"text": "Small"}, "postback_data": "size:S"},
    {"text_message": {"text": "Large"}, "postback_data": "size:L"},
    {"url_message": {"title": "Size guide", "url": "https://shop.example.com/sizes"}},
    {"call_message": {"title": "Call us", "phone_number": "+46812345678"}}]}}


async def test_configure_app_sets_the_webhook_with_a_secret_token(rig: Rig) -> None:
    info = (await rig.call("getWebhookInfo")).json()["result"]
    assert info["url"] == f"{rig.url}/channels/telegram/apps/{APP_ID}/webhook"
    bot = rig.twin.bots[BOT_ID]
    assert bot.secret_token == derive_secret_token(APP_ID, CREDENTIALS)
    assert bot.allowed_updates == ["message", "edited_message", "callback_query"]


async def test_text_is_delivered_to_the_chat_and_reported_delivered(rig: Rig) -> None:
    rig.telegram_handset()
    result = await rig.connector.send(rig.message({"text_message": {"text": "Hello from Tidings"}}))
    assert result.channel_message_id == f"{CHAT_ID}:1"
    delivered = await rig.sink.wait_status(result.channel_message_id, "DELIVERED")
    assert delivered.channel == "TELEGRAM" and delivered.at_ms > 0
    [received] = rig.sandbox.messages_for(HANDSET)
    assert received.channel == "TELEGRAM" and received.body == "Hello from Tidings"
    assert received.content is not None
    assert received.content["message"]["text"] == "Hello from Tidings"
    assert received.content["message"]["from"]["id"] == BOT_ID
    second = await rig.connector.send(rig.message({"text_message": {"text": "again"}}))
    assert second.channel_message_id == f"{CHAT_ID}:2"


async def test_choices_are_an_inline_keyboard_and_a_tap_is_a_choice_response(rig: Rig) -> None:
    handset = rig.telegram_handset()
    result = await rig.connector.send(rig.message(CHOICES))
    [received] = rig.sandbox.messages_for(HANDSET)
    message = received.content["message"]  # type: ignore[index]
    assert message["text"] == "Which size?\nCall us: +46812345678"
    assert message["reply_markup"]["inline_keyboard"] == [
        [{"text": "Small", "callback_data": "size:S"}], [{"text": "Large", "callback_data": "size:L"}],
        [{"text": "Size guide", "url": "https://shop.example.com/sizes"}]]
    assert "[Large]" in received.body and "[Size guide: https://shop.example.com/sizes]" in received.body
    tap_id = await rig.twin.handset_sends(handset, f"@tidings{BOT_ID}_bot", body=None, postback="size:L")
    [event] = await rig.sink.wait_inbound()
    assert event.content == {"choice_response_message": {"message_id": "", "postback_data": "size:L"}}
    assert event.reply_to_channel_message_id == result.channel_message_id
    assert event.identity == CHAT_ID and event.display_name == HANDSET
    assert event.channel_message_id == tap_id
    assert rig.twin.answered == [tap_id.removeprefix("callback:")]


async def test_a_postback_longer_than_64_bytes_travels_hashed_and_comes_back_whole(rig: Rig) -> None:
    handset = rig.telegram_handset()
    long_postback = "order:" + "x" * 90
    await rig.connector.send(rig.message({"choice_message": {"text_message": {"text": "Confirm?"}, "choices": [
        {"text_message": {"text": "Confirm"}, "postback_data": long_postback}]}}))
    [received] = rig.sandbox.messages_for(HANDSET)
    data = received.content["message"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]  # type: ignore[index]
    assert data.startswith(HASHED_PREFIX) and len(data.encode()) <= 64
    await rig.twin.handset_sends(handset, str(BOT_ID), body=None, postback="Confirm")
    [event] = await rig.sink.wait_inbound()
    assert event.content["choice_response_message"]["postback_data"] == long_postback


async def test_a_forgotten_hashed_postback_falls_back_to_the_button_text(rig: Rig) -> None:
    handset = rig.telegram_handset()
    await rig.connector.send(rig.message({"choice_message": {"text_message": {"text": "Confirm?"}, "choices": [
        {"text_message": {"text": "Confirm"}, "postback_data": "y" * 100}]}}))
    rig.connector.postbacks.clear()  # as after a restart
    await rig.twin.handset_sends(handset, str(BOT_ID), body=None, postback="Confirm")
    [event] = await rig.sink.wait_inbound()
    assert event.content["choice_response_message"]["postback_data"] == "Confirm"


async def test_card_is_a_photo_with_caption_and_keyboard(rig: Rig) -> None:
    rig.telegram_handset()
    await rig.connector.send(rig.message({"card_message": {
        "title": "Blue shoes", "description": "Size 42, in stock",
        "media_message": {"url": "https://cdn.example.com/shoes.jpg"},
        "choices": [{"text_message": {"text": "Buy"}, "postback_data": "buy"}]}}))
    [received] = rig.sandbox.messages_for(HANDSET)
    message = received.content["message"]  # type: ignore[index]
    assert received.content["method"] == "sendPhoto"  # type: ignore[index]
    assert message["caption"] == "Blue shoes\n\nSize 42, in stock"
    assert message["photo"][-1]["width"] == 1280
    assert message["reply_markup"]["inline_keyboard"] == [[{"text": "Buy", "callback_data": "buy"}]]


async def test_carousel_of_pictures_is_one_album(rig: Rig) -> None:
    rig.telegram_handset()
    cards = [{"title": f"Item {i}", "media_message": {"url": f"https://cdn.example.com/{i}.png"}} for i in range(3)]
    result = await rig.connector.send(rig.message({"carousel_message": {"cards": cards}}))
    assert result.details["channel_message_ids"] == [f"{CHAT_ID}:1", f"{CHAT_ID}:2", f"{CHAT_ID}:3"]
    assert result.channel_message_id == f"{CHAT_ID}:3"
    [received] = rig.sandbox.messages_for(HANDSET)
    assert received.content["method"] == "sendMediaGroup"  # type: ignore[index]
    assert received.body == "Item 0\nItem 1\nItem 2"


async def test_location_with_a_title_is_a_venue(rig: Rig) -> None:
    rig.telegram_handset()
    await rig.connector.send(rig.message({"location_message": {
        "title": "Head office", "label": "Main street 1", "coordinates": {"latitude": 59.33, "longitude": 18.06}}}))
    [received] = rig.sandbox.messages_for(HANDSET)
    venue = received.content["message"]["venue"]  # type: ignore[index]
    assert venue == {"location": {"latitude": 59.33, "longitude": 18.06}, "title": "Head office",
                     "address": "Main street 1"}


async def test_handset_text_and_reply_arrive_as_inbound_events(rig: Rig) -> None:
    handset = rig.telegram_handset()
    sent = await rig.connector.send(rig.message({"text_message": {"text": "How can we help?"}}))
    message_id = await rig.twin.handset_sends(handset, f"tidings{BOT_ID}_bot", body="Where is my order?", postback=None)
    [event] = await rig.sink.wait_inbound()
    assert event.content == {"text_message": {"text": "Where is my order?"}}
    assert event.channel_message_id == message_id == f"{CHAT_ID}:2"
    assert event.identity == CHAT_ID and event.app_id == APP_ID
    assert event.at_ms % 1000 == 0 and abs(event.at_ms - rig.sandbox.clock()) < 2000
    assert sent.channel_message_id == f"{CHAT_ID}:1"


async def test_handset_photo_arrives_as_media_with_a_resolvable_url(rig: Rig) -> None:
    handset = rig.telegram_handset()
    await rig.twin.handset_sends_media(handset, str(BOT_ID), url="https://files.example.com/receipt.jpg",
                                       mime_type="image/jpeg")
    [event] = await rig.sink.wait_inbound()
    url = event.content["media_message"]["url"]
    assert url.startswith(f"{rig.api}/file/bot{TOKEN}/")
    response = await rig.http.get(url)
    assert response.status_code == 302
    assert response.headers["location"] == "https://files.example.com/receipt.jpg"


async def test_handset_location_arrives_as_location(rig: Rig) -> None:
    handset = rig.telegram_handset()
    await rig.twin.handset_shares_location(handset, str(BOT_ID), 59.3, 18.1)
    [event] = await rig.sink.wait_inbound()
    assert event.content == {"location_message": {"coordinates": {"latitude": 59.3, "longitude": 18.1}}}


async def test_updates_without_the_secret_token_are_refused(rig: Rig) -> None:
    url = f"{rig.url}/channels/telegram/apps/{APP_ID}/webhook"
    update = orjson.dumps({"update_id": 1, "message": {"message_id": 9, "date": 1, "text": "forged",
                                                       "chat": {"id": int(CHAT_ID), "type": "private"}}})
    for headers in ({}, {SECRET_HEADER: "guess"}, {SECRET_HEADER: derive_secret_token("OTHER", CREDENTIALS)}):
        response = await rig.http.post(url, content=update, headers={"Content-Type": "application/json", **headers})
        assert response.status_code == 401
    unknown = await rig.http.post(f"{rig.url}/channels/telegram/apps/NOPE/webhook", content=update,
                                  headers={SECRET_HEADER: derive_secret_token(APP_ID, CREDENTIALS)})
    assert unknown.status_code == 404
    assert rig.sink.events == []
    good = await rig.http.post(url, content=update, headers={SECRET_HEADER: derive_secret_token(APP_ID, CREDENTIALS)})
    assert good.status_code == 200
    assert [e.content for e in rig.sink.inbound()] == [{"text_message": {"text": "forged"}}]


async def test_updates_from_groups_are_ignored(rig: Rig) -> None:
    update = {"update_id": 2, "message": {"message_id": 3, "date": 1, "text": "hi all",
                                          "chat": {"id": -100123, "type": "supergroup", "title": "G"}}}
    response = await rig.http.post(f"{rig.url}/channels/telegram/apps/{APP_ID}/webhook", json=update,
                                   headers={SECRET_HEADER: derive_secret_token(APP_ID, CREDENTIALS)})
    assert response.status_code == 200
    assert rig.sink.events == []


async def test_configured_secret_token_option_wins(rig: Rig) -> None:
    rig.connector.ctx.options["secret_token"] = "fixed_secret-1"
    await rig.connector.configure_app(APP_ID, CREDENTIALS)
    assert rig.twin.bots[BOT_ID].secret_token == "fixed_secret-1"
    handset = rig.telegram_handset()
    await rig.twin.handset_sends(handset, str(BOT_ID), body="hi", postback=None)
    await rig.sink.wait_inbound()


@pytest.mark.parametrize("bad", ["", "no token"])
async def test_configure_app_without_a_usable_token_is_an_auth_error(rig: Rig, bad: str) -> None:
    from tidings.core.errors import ChannelAuthError

    with pytest.raises(ChannelAuthError):
        await rig.connector.configure_app(APP_ID, {"channel": "TELEGRAM", "telegram_credentials": {"token": bad}})


async def test_webhook_refused_by_the_platform_for_a_bad_url(rig: Rig) -> None:
    from tidings.core.errors import TransientDeliveryError

    rig.connector.ctx.public_url = "ftp://example.com"
    with pytest.raises(TransientDeliveryError, match="An HTTPS URL must be provided"):
        await rig.connector.configure_app(APP_ID, CREDENTIALS)


async def test_getme_through_the_connector(rig: Rig) -> None:
    me = await rig.connector.call(TOKEN, "getMe", {})
    assert me["id"] == BOT_ID and me["is_bot"] is True
    assert isinstance(rig.connector.ctx.http, httpx.AsyncClient)


async def test_a_composing_event_is_the_typing_chat_action(rig: Rig) -> None:
    from tidings.core.errors import PermanentDeliveryError

    rig.telegram_handset()
    assert rig.connector.app_events == frozenset({"composing_event"})  # Telegram cannot end it
    await rig.connector.send_event(CREDENTIALS, CHAT_ID, {"composing_event": {}})
    assert [(a["chat_id"], a["action"]) for a in rig.twin.chat_actions] == [(int(CHAT_ID), "typing")]
    assert rig.sandbox.messages_for(HANDSET) == []
    rig.twin.blocked.add((BOT_ID, int(CHAT_ID)))
    with pytest.raises(PermanentDeliveryError, match="blocked"):
        await rig.connector.send_event(CREDENTIALS, CHAT_ID, {"composing_event": {}})
    assert len(rig.twin.chat_actions) == 1
