"""Every Conversation API message kind rendered as an RBM contentMessage, natively or degraded,
and accepted by the twin's validation of the documented shape."""

from __future__ import annotations

from typing import Any

import pytest

from tidings.channels.rcs.transcode import (
    MAX_CARD_SUGGESTIONS,
    MAX_SUGGESTIONS,
    UnsupportedContent,
    decode_postback,
    encode_postback,
    to_content_message,
)
from tidings.sandbox.platforms.rbm_content import content_error

MID = "01HZXMESSAGEID"


def render(content: dict[str, Any]) -> dict[str, Any]:
    message = to_content_message(content, MID)
    assert content_error(message) is None, content_error(message)
    return message


def test_text() -> None:
    assert render({"text_message": {"text": "Hello ✨"}}) == {"text": "Hello ✨"}


def test_long_text_is_clipped_to_rbm_limit() -> None:
    message = render({"text_message": {"text": "x" * 5000}})
    assert len(message["text"]) == 3072
    assert message["text"].endswith("…")


def test_media() -> None:
    message = render({"media_message": {"url": "https://cdn.example.com/a.png",
                                        "thumbnail_url": "https://cdn.example.com/a-t.png"}})
    assert message == {"contentInfo": {"fileUrl": "https://cdn.example.com/a.png",
                                       "thumbnailUrl": "https://cdn.example.com/a-t.png"}}


def test_media_without_url_is_refused() -> None:
    with pytest.raises(UnsupportedContent):
        to_content_message({"media_message": {}}, MID)


def test_card_is_a_standalone_rich_card() -> None:
    message = render({"card_message": {
        "title": "Spring sale", "description": "Half price", "height": "TALL",
        "media_message": {"url": "https://cdn.example.com/sale.jpg"},
        "choices": [{"text_message": {"text": "Interested"}, "postback_data": "yes"}],
    }})
    card = message["richCard"]["standaloneCard"]["cardContent"]
    assert card["title"] == "Spring sale"
    assert card["description"] == "Half price"
    assert card["media"] == {"height": "TALL", "contentInfo": {"fileUrl": "https://cdn.example.com/sale.jpg"}}
    assert card["suggestions"] == [{"reply": {"text": "Interested", "postbackData": f"tdg1:{MID}:yes"}}]
    assert "suggestions" not in message


def test_card_with_more_choices_than_fit_moves_the_rest_to_the_message() -> None:
    choices = [{"text_message": {"text": f"Option {i}"}, "postback_data": f"o{i}"} for i in range(6)]
    message = render({"card_message": {"title": "Pick", "choices": choices}})
    on_card = message["richCard"]["standaloneCard"]["cardContent"]["suggestions"]
    assert len(on_card) == MAX_CARD_SUGGESTIONS
    assert [s["reply"]["text"] for s in message["suggestions"]] == ["Option 4", "Option 5"]


def test_carousel() -> None:
    cards = [{"title": f"Card {i}", "media_message": {"url": f"https://cdn.example.com/{i}.jpg"},
              "choices": [{"url_message": {"title": "Open", "url": f"https://shop.example.com/{i}"}}]}
             for i in range(3)]
    message = render({"carousel_message": {"cards": cards,
                                           "choices": [{"text_message": {"text": "More"}, "postback_data": "more"}]}})
    carousel = message["richCard"]["carouselCard"]
    assert carousel["cardWidth"] == "MEDIUM"
    assert [c["title"] for c in carousel["cardContents"]] == ["Card 0", "Card 1", "Card 2"]
    assert carousel["cardContents"][2]["suggestions"][0]["action"]["openUrlAction"] == {
        "url": "https://shop.example.com/2"}
    assert carousel["cardContents"][0]["media"]["height"] == "MEDIUM"
    assert message["suggestions"] == [{"reply": {"text": "More", "postbackData": f"tdg1:{MID}:more"}}]


def test_carousel_of_one_card_is_a_standalone_card_and_of_eleven_keeps_ten() -> None:
    one = render({"carousel_message": {"cards": [{"title": "Only"}]}})
    assert one["richCard"]["standaloneCard"]["cardContent"]["title"] == "Only"
    many = render({"carousel_message": {"cards": [{"title": str(i)} for i in range(11)]}})
    assert len(many["richCard"]["carouselCard"]["cardContents"]) == 10


CHOICES = [
    ({"text_message": {"text": "Yes please"}, "postback_data": "yes"},
     {"reply": {"text": "Yes please", "postbackData": f"tdg1:{MID}:yes"}}),
    ({"url_message": {"title": "Website", "url": "https://example.com"}, "postback_data": "web"},
     {"action": {"text": "Website", "postbackData": f"tdg1:{MID}:web",
                 "openUrlAction": {"url": "https://example.com"}}}),
    ({"call_message": {"title": "Call us", "phone_number": "+46701234567"}},
     {"action": {"text": "Call us", "postbackData": f"tdg1:{MID}:Call us",
                 "dialAction": {"phoneNumber": "+46701234567"}}}),
    ({"location_message": {"coordinates": {"latitude": 59.33, "longitude": 18.06}, "title": "Our shop",
                           "label": "Drottninggatan 1"}, "postback_data": "shop"},
     {"action": {"text": "Our shop", "postbackData": f"tdg1:{MID}:shop",
                 "viewLocationAction": {"latLong": {"latitude": 59.33, "longitude": 18.06},
                                        "label": "Drottninggatan 1"},
                 "fallbackUrl": "https://maps.google.com/?q=59.33,18.06"}}),
    ({"calendar_message": {"title": "Save the date", "event_start": "2025-06-01T10:00:00Z",
                           "event_end": "2025-06-01T11:00:00Z", "event_title": "Launch",
                           "event_description": "Product launch", "fallback_url": "https://example.com/cal"},
      "postback_data": "cal"},
     {"action": {"text": "Save the date", "postbackData": f"tdg1:{MID}:cal",
                 "createCalendarEventAction": {"startTime": "2025-06-01T10:00:00Z",
                                               "endTime": "2025-06-01T11:00:00Z",
                                               "title": "Launch", "description": "Product launch"},
                 "fallbackUrl": "https://example.com/cal"}}),
    ({"share_location_message": {"title": "Share where you are", "fallback_url": "https://example.com/loc"},
      "postback_data": "loc"},
     {"action": {"text": "Share where you are", "postbackData": f"tdg1:{MID}:loc",
                 "shareLocationAction": {}, "fallbackUrl": "https://example.com/loc"}}),
]


@pytest.mark.parametrize(("choice", "expected"), CHOICES, ids=[next(iter(c)) for c, _ in CHOICES])
def test_choice_message_each_action_type(choice: dict[str, Any], expected: dict[str, Any]) -> None:
    message = render({"choice_message": {"text_message": {"text": "What next?"}, "choices": [choice]}})
    assert message["text"] == "What next?"
    assert message["suggestions"] == [expected]


def test_suggestion_text_is_clipped_to_25_and_at_most_11_suggestions() -> None:
    choices = [{"text_message": {"text": f"A rather long label number {i}"}} for i in range(13)]
    message = render({"choice_message": {"text_message": {"text": "Pick"}, "choices": choices}})
    assert len(message["suggestions"]) == MAX_SUGGESTIONS
    assert all(len(s["reply"]["text"]) <= 25 for s in message["suggestions"])
    # Without postback_data the choice's own label is the postback.
    assert decode_postback(message["suggestions"][0]["reply"]["postbackData"]) == (
        MID, "A rather long label number 0")


def test_location_is_text_with_a_view_location_action() -> None:
    message = render({"location_message": {"coordinates": {"latitude": 48.85, "longitude": 2.35},
                                           "title": "Office", "label": "Paris"}})
    assert message["text"] == "Office\nParis"
    action = message["suggestions"][0]["action"]
    assert action["viewLocationAction"] == {"latLong": {"latitude": 48.85, "longitude": 2.35}, "label": "Paris"}


def test_list_is_degraded_to_text_with_a_reply_per_item() -> None:
    message = render({"list_message": {"title": "Menu", "description": "Choose a dish", "sections": [
        {"title": "Mains", "items": [{"choice": {"title": "Pasta", "postback_data": "pasta"}},
                                     {"choice": {"title": "Salad"}}]},
        {"title": "Shop", "items": [{"product": {"id": "sku-1", "marketplace": "FACEBOOK"}}]},
    ]}})
    assert "richCard" not in message
    assert message["text"].splitlines()[:4] == ["Menu", "Choose a dish", "Mains", "1. Pasta"]
    assert [s["reply"]["postbackData"] for s in message["suggestions"]] == [
        f"tdg1:{MID}:pasta", f"tdg1:{MID}:Salad"]


def test_template_is_degraded_to_its_text() -> None:
    message = render({"template_message": {
        "channel_template": {"WHATSAPP": {"template_id": "order_ready", "version": "1", "language_code": "en"}},
        "omni_template": {"template_id": "t1", "version": "1", "parameters": {"text": "Your order is ready"}},
    }})
    assert message == {"text": "Your order is ready"}


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(UnsupportedContent):
        to_content_message({"explicit_channel_message": {}}, MID)


def test_postback_round_trip_and_foreign_data() -> None:
    assert decode_postback(encode_postback("M1", "a:b")) == ("M1", "a:b")
    assert decode_postback("plain") == (None, "plain")
    assert decode_postback("tdg1:nocolon") == (None, "tdg1:nocolon")
