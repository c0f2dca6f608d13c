"""Every AppMessage kind → Send API `message` objects, each checked by the twin's validator."""

from __future__ import annotations

from typing import Any

import pytest

from tidings.channels.messenger.connector import offered_payloads
from tidings.channels.messenger.transcode import (
    TranscodeError,
    attachment_type,
    transcode,
)
from tidings.sandbox.platforms.messenger_payloads import MessengerError, render


def _checked(content: dict[str, Any]) -> list[dict[str, Any]]:
    messages = transcode(content)
    for message in messages:
        render(message)  # raises MessengerError for anything the platform refuses
    return messages


def _reply(text: str, postback: str | None = None) -> dict[str, Any]:
    return {"text_message": {"text": text}, **({"postback_data": postback} if postback else {})}


def test_text_split_at_2000() -> None:
    assert _checked({"text_message": {"text": "hi"}}) == [{"text": "hi"}]
    parts = _checked({"text_message": {"text": "x" * 4500}})
    assert [len(p["text"]) for p in parts] == [2000, 2000, 500]


@pytest.mark.parametrize(("url", "kind"), [
    ("https://cdn.example/a.JPG", "image"), ("https://cdn.example/a.png?x=1", "image"),
    ("https://cdn.example/v.mp4", "video"), ("https://cdn.example/s.mp3", "audio"),
    ("https://cdn.example/doc.pdf", "file"), ("https://cdn.example/noext", "file"),
])
def test_media_by_type(url: str, kind: str) -> None:
    assert attachment_type(url) == kind
    assert _checked({"media_message": {"url": url}}) == [
        {"attachment": {"type": kind, "payload": {"url": url, "is_reusable": True}}}]


def test_reply_choices_become_quick_replies() -> None:
    [message] = _checked({"choice_message": {"text_message": {"text": "Size?"}, "choices": [
        _reply("Small", "s"), _reply("A very long label for medium")]}})
    assert message == {"text": "Size?", "quick_replies": [
        {"content_type": "text", "title": "Small", "payload": "s"},
        {"content_type": "text", "title": "A very long label f…", "payload": "A very long label for medium"}]}
    assert offered_payloads(message) == ["s", "A very long label for medium"]


def test_action_choices_become_a_button_template() -> None:
    [message] = _checked({"choice_message": {"text_message": {"text": "How can we help?"}, "choices": [
        _reply("Agent", "agent"),
        {"url_message": {"title": "FAQ", "url": "https://help.example"}},
        {"call_message": {"title": "Call", "phone_number": "46700000000"}}]}})
    payload = message["attachment"]["payload"]
    assert payload["template_type"] == "button" and payload["text"] == "How can we help?"
    assert payload["buttons"] == [
        {"type": "postback", "title": "Agent", "payload": "agent"},
        {"type": "web_url", "url": "https://help.example", "title": "FAQ"},
        {"type": "phone_number", "title": "Call", "payload": "+46700000000"}]


def test_many_mixed_choices_split_buttons_and_quick_replies() -> None:
    choices = [{"url_message": {"title": "Site", "url": "https://x.example"}},
               {"location_message": {"title": "Store", "coordinates": {"latitude": 59.3, "longitude": 18.1}}},
               *[_reply(f"Option {i}", f"o{i}") for i in range(5)]]
    [message] = _checked({"choice_message": {"text_message": {"text": "Pick"}, "choices": choices}})
    buttons = message["attachment"]["payload"]["buttons"]
    assert [b["title"] for b in buttons] == ["Site", "Store"]
    assert buttons[1]["url"] == "https://maps.google.com/?q=59.3,18.1"
    assert [q["payload"] for q in message["quick_replies"]] == [f"o{i}" for i in range(5)]


def test_too_many_choices_degrade_to_numbered_text() -> None:
    choices = [_reply(f"Option {i}", f"o{i}") for i in range(14)]
    messages = _checked({"choice_message": {"text_message": {"text": "Pick"}, "choices": choices}})
    assert messages == [{"text": "Pick\n" + "\n".join(f"{i + 1}. Option {i}" for i in range(14))}]


def test_card_is_a_generic_template() -> None:
    [message] = _checked({"card_message": {"title": "Shoe", "description": "d" * 100,
                                           "media_message": {"url": "https://cdn.example/s.png"},
                                           "choices": [_reply("Buy", "buy")]}})
    [element] = message["attachment"]["payload"]["elements"]
    assert element["title"] == "Shoe" and len(element["subtitle"]) == 80 and element["subtitle"].endswith("…")
    assert element["image_url"] == "https://cdn.example/s.png"
    assert element["buttons"] == [{"type": "postback", "title": "Buy", "payload": "buy"}]


def test_card_with_video_sends_the_video_first() -> None:
    messages = _checked({"card_message": {"title": "Watch", "media_message": {"url": "https://cdn.example/v.mp4"}}})
    assert messages[0]["attachment"]["type"] == "video"
    assert "image_url" not in messages[1]["attachment"]["payload"]["elements"][0]


def test_carousel_cards_and_outer_replies() -> None:
    cards = [{"title": f"Card {i}", "choices": [_reply("Pick", f"p{i}")]} for i in range(3)]
    [message] = _checked({"carousel_message": {"cards": cards, "choices": [_reply("None", "none")]}})
    assert len(message["attachment"]["payload"]["elements"]) == 3
    assert message["quick_replies"] == [{"content_type": "text", "title": "None", "payload": "none"}]
    assert offered_payloads(message) == ["none", "p0", "p1", "p2"]


def test_carousel_of_eleven_degrades() -> None:
    cards = [{"title": f"Card {i}"} for i in range(11)]
    messages = _checked({"carousel_message": {"cards": cards}})
    assert all("text" in m for m in messages) and "Card 10" in messages[-1]["text"]


def test_location_has_an_open_map_button() -> None:
    [message] = _checked({"location_message": {"title": "Head office", "label": "Main St 1",
                                               "coordinates": {"latitude": 55.6, "longitude": 13.0}}})
    [element] = message["attachment"]["payload"]["elements"]
    assert element == {"title": "Head office", "subtitle": "Main St 1", "buttons": [
        {"type": "web_url", "title": "Open map", "url": "https://maps.google.com/?q=55.6,13.0"}]}


def test_list_becomes_text_then_selectable_elements() -> None:
    content = {"list_message": {"title": "Menu", "description": "Pick one", "sections": [
        {"title": "Mains", "items": [{"choice": {"title": "Pasta", "description": "With tomato", "postback_data": "pasta"}},
                                     {"choice": {"title": "Soup", "postback_data": "soup"}}]}]}}
    header, template = _checked(content)
    assert header == {"text": "Menu\nPick one"}
    elements = template["attachment"]["payload"]["elements"]
    assert [(e["title"], e["buttons"][0]["payload"]) for e in elements] == [("Pasta", "pasta"), ("Soup", "soup")]
    assert elements[0]["subtitle"] == "With tomato"


def test_template_and_contact_info_degrade_to_text() -> None:
    content = {"template_message": {"omni_template": {"template_id": "t", "parameters": {"text": "Your code is 1234"}}}}
    assert _checked(content) == [{"text": "Your code is 1234"}]
    contact = {"contact_info_message": {"name": {"full_name": "Ada"}, "phone_numbers": [{"phone_number": "+4670"}]}}
    assert _checked(contact) == [{"text": "Ada\n+4670"}]


def test_explicit_channel_message_goes_as_is() -> None:
    raw = '{"text": "raw", "quick_replies": [{"content_type": "user_email"}]}'
    assert _checked({"text_message": {"text": "ignored"}, "explicit_channel_message": {"MESSENGER": raw}}) == [
        {"text": "raw", "quick_replies": [{"content_type": "user_email"}]}]
    with pytest.raises(TranscodeError):
        transcode({"text_message": {"text": "x"}, "explicit_channel_message": {"MESSENGER": "{nope"}})


@pytest.mark.parametrize("content", [
    {}, {"text_message": {"text": ""}}, {"media_message": {}},
    {"location_message": {"coordinates": {}}},
    {"choice_message": {"text_message": {"text": "x"}, "choices": [_reply("x", "p" * 1001)]}},
])
def test_unsendable(content: dict[str, Any]) -> None:
    with pytest.raises(TranscodeError) as caught:
        transcode(content)
    assert caught.value.code == 100


@pytest.mark.parametrize("message", [
    {"text": "x" * 2001},
    {"text": "x", "attachment": {"type": "image", "payload": {"url": "https://x"}}},
    {"text": "x", "quick_replies": [{"content_type": "text", "title": "t", "payload": "p"}] * 14},
    {"text": "x", "quick_replies": [{"content_type": "text", "title": "t" * 21, "payload": "p"}]},
    {"attachment": {"type": "image", "payload": {"url": "ftp://x"}}},
    {"attachment": {"type": "template", "payload": {"template_type": "button", "text": "t", "buttons": []}}},
    {"attachment": {"type": "template", "payload": {"template_type": "button", "text": "t", "buttons": [
        {"type": "postback", "title": "b", "payload": "p"}] * 4}}},
    {"attachment": {"type": "template", "payload": {"template_type": "generic", "elements": [{"title": "t"}] * 11}}},
    {"attachment": {"type": "template", "payload": {"template_type": "generic", "elements": [{"subtitle": "s"}]}}},
    {"attachment": {"type": "template", "payload": {"template_type": "generic", "elements": [
        {"title": "t", "buttons": [{"type": "phone_number", "title": "c", "payload": "4670"}]}]}}},
    {"attachment": {"type": "template", "payload": {"template_type": "media", "elements": []}}},
])
def test_twin_refuses_what_the_platform_refuses(message: dict[str, Any]) -> None:
    with pytest.raises(MessengerError) as caught:
        render(message)
    assert caught.value.code == 100
