"""Every AppMessage kind as Bot API calls, each call checked by the twin's validator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import tidings.channels.telegram as package
from tidings.channels.contract import ChannelFeature
from tidings.channels.telegram.transcode import (
    HASHED_PREFIX,
    TranscodeError,
    callback_data,
    media_method,
    transcode,
)
from tidings.sandbox.platforms import telegram as twin_module
from tidings.sandbox.platforms.telegram_render import BotApiFault, validate


def calls(content: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    rendered = transcode(content)
    for call in rendered.calls:
        validate(call.method, {"chat_id": 1, **call.params}, lambda _: False)
    return [(c.method, c.params) for c in rendered.calls]


def test_text_split_at_4096() -> None:
    out = calls({"text_message": {"text": "a" * 5000}})
    assert [len(p["text"]) for _, p in out] == [4096, 904]


@pytest.mark.parametrize(("url", "method"), [
    ("https://x.example/a.JPG", "sendPhoto"), ("https://x.example/a.png?sig=1", "sendPhoto"),
    ("https://x.example/a.gif", "sendAnimation"), ("https://x.example/v.mp4", "sendVideo"),
    ("https://x.example/s.mp3", "sendAudio"), ("https://x.example/doc.pdf", "sendDocument"),
])
def test_media_by_extension(url: str, method: str) -> None:
    assert media_method(url) == method
    [(sent, params)] = calls({"media_message": {"url": url}})
    assert sent == method and url in params.values()


def test_card_without_media_is_text_with_keyboard() -> None:
    [(method, params)] = calls({"card_message": {"title": "T", "description": "D", "choices": [
        {"text_message": {"text": "OK"}, "postback_data": "ok"},
        {"calendar_message": {"title": "Meet", "event_start": "2030-01-01T10:00:00Z"}}]}})
    assert method == "sendMessage"
    assert params["text"] == "T\n\nD\nMeet (2030-01-01T10:00:00Z)"
    assert params["reply_markup"] == {"inline_keyboard": [[{"text": "OK", "callback_data": "ok"}]]}


def test_card_with_a_long_caption_sends_the_text_separately() -> None:
    out = calls({"card_message": {"title": "T", "description": "d" * 1100,
                                  "media_message": {"url": "https://x.example/a.jpg"},
                                  "choices": [{"text_message": {"text": "OK"}}]}})
    assert [m for m, _ in out] == ["sendPhoto", "sendMessage"]
    assert "caption" not in out[0][1] and "reply_markup" not in out[0][1]
    assert out[1][1]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "OK"


def test_carousel_with_choices_is_a_sequence_with_the_tail_choices_on_the_last_card() -> None:
    out = calls({"carousel_message": {"cards": [
        {"title": "A", "media_message": {"url": "https://x.example/a.jpg"},
         "choices": [{"text_message": {"text": "Pick A"}, "postback_data": "a"}]},
        {"title": "B", "media_message": {"url": "https://x.example/b.jpg"}}],
        "choices": [{"text_message": {"text": "More"}, "postback_data": "more"}]}})
    assert [m for m, _ in out] == ["sendPhoto", "sendPhoto"]
    assert out[1][1]["reply_markup"]["inline_keyboard"] == [[{"text": "More", "callback_data": "more"}]]


def test_list_items_are_buttons() -> None:
    [(method, params)] = calls({"list_message": {"title": "Menu", "description": "Pick one", "sections": [
        {"title": "Hot", "items": [{"choice": {"title": "Tea", "postback_data": "tea"}}]},
        {"title": "Cold", "items": [{"choice": {"title": "Juice", "postback_data": "juice"}}]}]}})
    assert (method, params["text"]) == ("sendMessage", "Menu\nPick one")
    assert params["reply_markup"]["inline_keyboard"] == [[{"text": "Tea", "callback_data": "tea"}],
                                                         [{"text": "Juice", "callback_data": "juice"}]]


def test_location_without_title_and_location_choice() -> None:
    assert calls({"location_message": {"coordinates": {"latitude": 1.5, "longitude": 2.5}}}) == [
        ("sendLocation", {"latitude": 1.5, "longitude": 2.5})]
    [(_, params)] = calls({"choice_message": {"text_message": {"text": "Find us"}, "choices": [
        {"location_message": {"title": "Shop", "coordinates": {"latitude": 1, "longitude": 2}}}]}})
    assert params["reply_markup"]["inline_keyboard"] == [[{"text": "Shop",
                                                           "url": "https://maps.google.com/?q=1,2"}]]


def test_contact_and_template() -> None:
    assert calls({"contact_info_message": {"name": {"first_name": "Ada", "last_name": "L"},
                                           "phone_numbers": [{"phone_number": "+4670"}]}}) == [
        ("sendContact", {"phone_number": "+4670", "first_name": "Ada", "last_name": "L"})]
    [(method, params)] = calls({"template_message": {"omni_template": {"template_id": "t",
                                                                       "parameters": {"text": "Your code is 1"}}}})
    assert (method, params["text"]) == ("sendMessage", "Your code is 1")


def test_callback_data_limit() -> None:
    assert callback_data("é" * 32) == "é" * 32  # 64 bytes
    hashed = callback_data("é" * 33)
    assert hashed.startswith(HASHED_PREFIX) and len(hashed.encode()) <= 64
    assert callback_data("é" * 33) == hashed


def test_twin_refuses_what_the_transcoder_never_sends() -> None:
    with pytest.raises(BotApiFault, match="BUTTON_DATA_INVALID"):
        validate("sendMessage", {"text": "x", "reply_markup": {"inline_keyboard": [
            [{"text": "x", "callback_data": "y" * 65}]]}}, lambda _: False)
    with pytest.raises(BotApiFault, match="message text is empty"):
        validate("sendMessage", {"text": ""}, lambda _: False)


@pytest.mark.parametrize("content", [{}, {"media_message": {}}, {"text_message": {"text": " "}},
                                     {"location_message": {"coordinates": {"latitude": "x"}}}])
def test_nothing_to_send(content: dict[str, Any]) -> None:
    with pytest.raises(TranscodeError):
        transcode(content)


def test_manifest_matches_the_connector() -> None:
    manifest = json.loads((Path(package.__file__).parent / "manifest.json").read_text())
    assert manifest["id"] == "telegram" == package.TelegramConnector.id
    assert manifest["channel"] == "TELEGRAM" == package.TelegramConnector.channel
    assert {ChannelFeature[name] for name in manifest["features"]} == set(package.TelegramConnector.features)
    assert manifest["sandbox_twin"] == twin_module.__name__
    assert package.__all__ == ["TelegramConnector", "create"]


def test_registered_with_the_connector_registry_and_the_sandbox() -> None:
    from tidings.channels import registry

    assert registry.available()["telegram"].channel == "TELEGRAM"
    assert twin_module.create_twin in registry.sandbox_twin_factories()
