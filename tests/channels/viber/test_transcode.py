"""Every AppMessage kind as Viber send_message bodies, each checked by the twin's validator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import tidings.channels.viber as package
from tidings.channels.contract import ChannelFeature
from tidings.channels.viber.inbound import parse_callback
from tidings.channels.viber.transcode import (
    TranscodeError,
    decode_action_body,
    encode_action_body,
    transcode,
)
from tidings.sandbox.platforms import viber as twin_module
from tidings.sandbox.platforms.viber_render import ViberFault, validate


def bodies(content: dict[str, Any], message_id: str = "M1") -> list[dict[str, Any]]:
    out = transcode(content, message_id)
    for body in out:
        validate({"receiver": "u", "sender": {"name": "S"}, **body})
    return out


def test_text_split_at_7000() -> None:
    assert [len(b["text"]) for b in bodies({"text_message": {"text": "a" * 7001}})] == [7000, 1]


def test_picture_or_url() -> None:
    assert bodies({"media_message": {"url": "https://x.example/a.png", "thumbnail_url": "https://x.example/t.png"}}) \
        == [{"type": "picture", "text": "", "media": "https://x.example/a.png", "thumbnail": "https://x.example/t.png"}]
    assert bodies({"media_message": {"url": "https://x.example/v.mp4"}}) == [
        {"type": "url", "media": "https://x.example/v.mp4"}]


def test_carousel_groups_and_tail_keyboard() -> None:
    cards = [{"title": f"C{i}", "media_message": {"url": f"https://x.example/{i}.jpg"},
              "choices": [{"text_message": {"text": f"Pick {i}"}, "postback_data": f"p{i}"}]} for i in range(7)]
    out = bodies({"carousel_message": {"cards": cards, "choices": [{"text_message": {"text": "More"}}]}})
    assert [b["type"] for b in out] == ["rich_media", "rich_media"]
    first = out[0]["rich_media"]["Buttons"]
    assert sum(b["Columns"] * b["Rows"] for b in first) == 6 * 6 * 7
    assert "keyboard" not in out[0]
    assert out[1]["keyboard"]["Buttons"][0]["ActionBody"] == "tdg1:M1:More"


def test_card_choices_that_do_not_fit_go_to_the_keyboard() -> None:
    choices = [{"text_message": {"text": f"O{i}"}, "postback_data": f"o{i}"} for i in range(5)]
    [body] = bodies({"card_message": {"title": "T", "media_message": {"url": "https://x.example/a.jpg"},
                                      "choices": choices}})
    in_card = [b for b in body["rich_media"]["Buttons"] if b["ActionType"] == "reply"]
    assert [b["Text"] for b in in_card] == ["O0", "O1", "O2"]
    assert [b["Text"] for b in body["keyboard"]["Buttons"]] == ["O3", "O4"]


def test_list_contact_template_location() -> None:
    [body] = bodies({"list_message": {"title": "Menu", "sections": [
        {"items": [{"choice": {"title": "Tea", "postback_data": "tea"}}]}]}})
    assert body["text"] == "Menu" and body["keyboard"]["Buttons"][0]["ActionBody"] == "tdg1:M1:tea"
    assert bodies({"contact_info_message": {"name": {"full_name": "Ada L"},
                                            "phone_numbers": [{"phone_number": "+4670"}]}}) == [
        {"type": "contact", "contact": {"name": "Ada L", "phone_number": "+4670"}}]
    assert bodies({"template_message": {"omni_template": {"parameters": {"text": "Code 1"}}}}) == [
        {"type": "text", "text": "Code 1"}]
    assert bodies({"location_message": {"coordinates": {"latitude": 1, "longitude": 2}}}) == [
        {"type": "location", "location": {"lat": 1, "lon": 2}}]


def test_action_body_round_trip() -> None:
    assert decode_action_body(encode_action_body("01ABC", "size:L")) == ("01ABC", "size:L")
    assert decode_action_body("hello") == (None, "hello")
    assert decode_action_body("tdg1:nocolon") == (None, "tdg1:nocolon")


def test_parse_callbacks() -> None:
    assert parse_callback({"event": "seen", "timestamp": 5, "message_token": 7, "user_id": "u"}, "A")[0].status == "READ"
    assert parse_callback({"event": "subscribed", "timestamp": 5, "user": {"id": "u"}}, "A") == []
    [event] = parse_callback({"event": "message", "timestamp": 9, "message_token": 3, "sender": {"id": "u"},
                              "message": {"type": "url", "media": "https://x.example"}}, "A")
    assert event.content == {"text_message": {"text": "https://x.example"}} and event.at_ms == 9
    assert parse_callback({"event": "message", "timestamp": 9, "message_token": 3, "sender": {"id": "u"},
                           "message": {"type": "sticker", "sticker_id": 1}}, "A") == []


def test_twin_refuses_bad_bodies() -> None:
    with pytest.raises(ViberFault) as caught:
        validate({"receiver": "u", "sender": {"name": "S"}, "type": "text"})
    assert caught.value.status == 4
    with pytest.raises(ViberFault):
        validate({"receiver": "u", "sender": {"name": "x" * 29}, "type": "text", "text": "t"})
    with pytest.raises(ViberFault):
        validate({"receiver": "u", "sender": {"name": "S"}, "type": "video", "media": "https://x.example/v.mp4"})


@pytest.mark.parametrize("content", [{}, {"media_message": {}}, {"text_message": {"text": ""}},
                                     {"carousel_message": {"cards": []}}])
def test_nothing_to_send(content: dict[str, Any]) -> None:
    with pytest.raises(TranscodeError):
        transcode(content, "M")


def test_manifest_matches_the_connector() -> None:
    manifest = json.loads((Path(package.__file__).parent / "manifest.json").read_text())
    assert manifest["id"] == "viber" == package.ViberConnector.id
    assert manifest["channel"] == "VIBER" == package.ViberConnector.channel
    assert {ChannelFeature[name] for name in manifest["features"]} == set(package.ViberConnector.features)
    assert manifest["sandbox_twin"] == twin_module.__name__
    assert package.__all__ == ["ViberConnector", "create"]


def test_registered_with_the_connector_registry_and_the_sandbox() -> None:
    from tidings.channels import registry

    assert registry.available()["viber"].channel == "VIBER"
    assert twin_module.create_twin in registry.sandbox_twin_factories()
