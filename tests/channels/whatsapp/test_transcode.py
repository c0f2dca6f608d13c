"""AppMessage → Cloud API payloads, each one also checked by the twin's validator."""

from __future__ import annotations

from typing import Any

import pytest

from tidings.channels.whatsapp.transcode import Limits, TranscodeError, template_components, transcode, whatsapp_language
from tidings.sandbox.platforms.whatsapp_payloads import render
from tidings.sandbox.platforms.whatsapp_templates import TemplateRegistry


def reply(text: str, postback: str | None = None) -> dict[str, Any]:
    return {"text_message": {"text": text}, **({"postback_data": postback} if postback else {})}


def valid(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every payload is one the Cloud API (the twin) accepts."""
    registry = TemplateRegistry()
    for payload in payloads:
        render({"messaging_product": "whatsapp", "to": "46701234567", **payload}, registry)
    return payloads


def test_text_and_long_text() -> None:
    [one] = valid(transcode({"text_message": {"text": "see https://x.example"}}))
    assert one == {"type": "text", "text": {"body": "see https://x.example", "preview_url": True}}
    parts = valid(transcode({"text_message": {"text": "a" * (Limits.TEXT + 10)}}))
    assert [len(p["text"]["body"]) for p in parts] == [Limits.TEXT, 10]


@pytest.mark.parametrize(("url", "kind"), [
    ("https://cdn.example/a.jpg", "image"), ("https://cdn.example/a.png?x=1", "image"),
    ("https://cdn.example/a.mp4", "video"), ("https://cdn.example/a.mp3", "audio"),
    ("https://cdn.example/a.pdf", "document"), ("https://cdn.example/blob", "document"),
])
def test_media_by_type(url: str, kind: str) -> None:
    [payload] = valid(transcode({"media_message": {"url": url}}))
    assert payload["type"] == kind and payload[kind]["link"] == url


def test_document_filename_override() -> None:
    [payload] = valid(transcode({"media_message": {"url": "https://cdn.example/x.pdf", "filename_override": "Invoice.pdf"}}))
    assert payload["document"]["filename"] == "Invoice.pdf"


def test_card_with_media_and_replies_is_buttons_with_image_header() -> None:
    card = {"card_message": {"title": "Sneaker", "description": "Size 42", "media_message": {"url": "https://cdn.example/s.jpg"},
                             "choices": [reply("Buy", "buy"), reply("Later", "later"),
                                         {"call_message": {"title": "Call us", "phone_number": "+46701111111"}}]}}
    [payload] = valid(transcode(card))
    interactive = payload["interactive"]
    assert interactive["type"] == "button"
    assert interactive["header"] == {"type": "image", "image": {"link": "https://cdn.example/s.jpg"}}
    assert interactive["body"]["text"] == "*Sneaker*\n\nSize 42\nCall us: +46701111111"
    assert [b["reply"] for b in interactive["action"]["buttons"]] == [{"id": "buy", "title": "Buy"}, {"id": "later", "title": "Later"}]


def test_card_without_choices_is_captioned_media_or_text() -> None:
    [media] = valid(transcode({"card_message": {"title": "T", "description": "D", "media_message": {"url": "https://c/x.png"}}}))
    assert media == {"type": "image", "image": {"link": "https://c/x.png", "caption": "*T*\n\nD"}}
    [text] = valid(transcode({"card_message": {"title": "T", "description": "D"}}))
    assert text["text"]["body"] == "*T*\n\nD"


def test_card_without_media_puts_title_in_text_header() -> None:
    [payload] = valid(transcode({"card_message": {"title": "Order", "description": "Ready", "choices": [reply("OK")]}}))
    assert payload["interactive"]["header"] == {"type": "text", "text": "Order"}
    assert payload["interactive"]["action"]["buttons"][0]["reply"] == {"id": "OK", "title": "OK"}


def test_lone_url_choice_is_cta_url() -> None:
    content = {"choice_message": {"text_message": {"text": "Your receipt"},
                                  "choices": [{"url_message": {"title": "Open receipt", "url": "https://r.example/1"}}]}}
    [payload] = valid(transcode(content))
    assert payload["interactive"]["type"] == "cta_url"
    assert payload["interactive"]["action"] == {"name": "cta_url", "parameters": {"display_text": "Open receipt", "url": "https://r.example/1"}}


def test_lone_share_location_choice_is_location_request() -> None:
    content = {"choice_message": {"text_message": {"text": "Where are you?"},
                                  "choices": [{"share_location_message": {"title": "Share"}}]}}
    [payload] = valid(transcode(content))
    assert payload["interactive"]["type"] == "location_request_message"


def test_more_than_three_or_long_replies_become_a_list() -> None:
    four = {"choice_message": {"text_message": {"text": "Pick"}, "choices": [reply(f"Option {i}", f"o{i}") for i in range(4)]}}
    [payload] = valid(transcode(four))
    assert payload["interactive"]["type"] == "list"
    assert [r["id"] for r in payload["interactive"]["action"]["sections"][0]["rows"]] == ["o0", "o1", "o2", "o3"]
    long = {"choice_message": {"text_message": {"text": "Pick"}, "choices": [reply("A very long answer to give here", "x")]}}
    [payload] = valid(transcode(long))
    [row] = payload["interactive"]["action"]["sections"][0]["rows"]
    assert len(row["title"]) == Limits.ROW_TITLE and row["title"].endswith("…")
    assert row["description"] == "A very long answer to give here"


def test_card_with_media_and_many_replies_sends_media_then_list() -> None:
    card = {"card_message": {"title": "T", "description": "D", "media_message": {"url": "https://c/x.jpg"},
                             "choices": [reply(str(i)) for i in range(5)]}}
    media, listing = valid(transcode(card))
    assert media["type"] == "image" and listing["interactive"]["type"] == "list"


def test_more_than_ten_replies_degrade_to_numbered_text() -> None:
    content = {"choice_message": {"text_message": {"text": "Pick"}, "choices": [reply(f"c{i}") for i in range(11)]}}
    [payload] = valid(transcode(content))
    assert payload["type"] == "text"
    assert payload["text"]["body"].splitlines()[:3] == ["Pick", "1. c0", "2. c1"]


def test_carousel_is_each_card_then_its_choices() -> None:
    carousel = {"carousel_message": {"cards": [
        {"title": "A", "media_message": {"url": "https://c/a.jpg"}, "choices": [reply("Buy A", "a")]},
        {"title": "B", "description": "b"}], "choices": [reply("More", "more")]}}
    payloads = valid(transcode(carousel))
    assert [p["type"] for p in payloads] == ["interactive", "text", "interactive"]
    assert payloads[0]["interactive"]["header"]["type"] == "image"
    assert payloads[2]["interactive"]["action"]["buttons"][0]["reply"]["id"] == "more"


def test_location() -> None:
    [payload] = valid(transcode({"location_message": {"coordinates": {"latitude": 59.33, "longitude": 18.06},
                                                      "title": "Office", "label": "Main St 1"}}))
    assert payload == {"type": "location", "location": {"latitude": 59.33, "longitude": 18.06, "name": "Office", "address": "Main St 1"}}


def test_list_message_sections() -> None:
    content = {"list_message": {"title": "Menu", "description": "Pick a dish", "sections": [
        {"title": "Mains", "items": [{"choice": {"title": "Pasta", "description": "Fresh", "postback_data": "pasta"}}]},
        {"title": "Desserts", "items": [{"choice": {"title": "Cake", "postback_data": "cake"}}]}],
        "message_properties": {"menu": "See dishes"}}}
    [payload] = valid(transcode(content))
    interactive = payload["interactive"]
    assert interactive["header"] == {"type": "text", "text": "Menu"}
    assert interactive["body"] == {"text": "Pick a dish"}
    assert interactive["action"]["button"] == "See dishes"
    assert interactive["action"]["sections"] == [
        {"title": "Mains", "rows": [{"id": "pasta", "title": "Pasta", "description": "Fresh"}]},
        {"title": "Desserts", "rows": [{"id": "cake", "title": "Cake"}]}]


def test_list_over_ten_rows_is_text_and_products_with_catalog_are_product_list() -> None:
    big = {"list_message": {"title": "All", "sections": [{"items": [{"choice": {"title": f"i{n}"}} for n in range(11)]}]}}
    [text] = valid(transcode(big))
    assert text["type"] == "text" and "11. i10" in text["text"]["body"]
    products = {"list_message": {"title": "Shop", "description": "Our picks", "message_properties": {"catalog_id": "cat1"},
                                 "sections": [{"title": "Shoes", "items": [{"product": {"id": "sku-1"}}]}]}}
    [payload] = valid(transcode(products))
    assert payload["interactive"]["type"] == "product_list"
    assert payload["interactive"]["action"] == {"catalog_id": "cat1", "sections": [
        {"title": "Shoes", "product_items": [{"product_retailer_id": "sku-1"}]}]}


def test_template_with_variables_header_and_buttons() -> None:
    content = {"template_message": {"channel_template": {"WHATSAPP": {
        "template_id": "appointment_reminder", "language_code": "en_US", "parameters": {
            "header[1]image.link": "https://c/h.png", "body[1]text": "Dentist", "body[2]text": "Monday",
            "button[1]quick_reply[1]payload": "resched"}}}}}
    [payload] = valid(transcode(content))
    assert payload["template"] == {"name": "appointment_reminder", "language": {"policy": "deterministic", "code": "en_US"},
                                   "components": [
                                       {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://c/h.png"}}]},
                                       {"type": "body", "parameters": [{"type": "text", "text": "Dentist"},
                                                                       {"type": "text", "text": "Monday"}]},
                                       {"type": "button", "sub_type": "quick_reply", "index": "1",
                                        "parameters": [{"type": "payload", "payload": "resched"}]}]}


def test_template_parameter_fields_nest_and_order() -> None:
    components = template_components({"body[2]text": "b", "body[1]currency.amount_1000": "1500",
                                      "body[1]currency.code": "EUR", "header[1]document.filename": "f.pdf",
                                      "header[1]document.link": "https://c/f.pdf"})
    assert components == [
        {"type": "header", "parameters": [{"type": "document", "document": {"filename": "f.pdf", "link": "https://c/f.pdf"}}]},
        {"type": "body", "parameters": [{"type": "currency", "currency": {"amount_1000": 1500, "code": "EUR"}},
                                        {"type": "text", "text": "b"}]}]


@pytest.mark.parametrize("content", [
    {"template_message": {"omni_template": {"template_id": "x"}}},
    {"template_message": {"channel_template": {"WHATSAPP": {"template_id": "t", "parameters": {"bogus": "x"}}}}},
    {"text_message": {"text": ""}},
    {"media_message": {}},
    {"location_message": {"title": "no coordinates"}},
    {"carousel_message": {"cards": []}},
    {"unknown_message": {}},
])
def test_what_cannot_be_sent(content: dict[str, Any]) -> None:
    with pytest.raises(TranscodeError):
        transcode(content)


@pytest.mark.parametrize(("given", "expected"), [("EN_US", "en_US"), ("en-us", "en_US"), ("es", "es"), (None, "en_US")])
def test_language_codes(given: str | None, expected: str) -> None:
    assert whatsapp_language(given) == expected


def test_contact_language_is_the_template_default() -> None:
    content = {"template_message": {"channel_template": {"WHATSAPP": {"template_id": "hello_world"}}}}
    [payload] = transcode(content, contact_language="PT_BR")
    assert payload["template"]["language"]["code"] == "pt_BR"


def test_contact_info() -> None:
    [payload] = valid(transcode({"contact_info_message": {"name": {"full_name": "Ann Lee"},
                                                          "phone_numbers": [{"phone_number": "+4670", "type": "WORK"}]}}))
    assert payload["contacts"] == [{"name": {"formatted_name": "Ann Lee"}, "phones": [{"phone": "+4670", "type": "WORK"}]}]
