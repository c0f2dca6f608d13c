from tidings.conversations.degrade import (
    as_text,
    kind_of,
    media_url,
    numbered_choices,
    parse_choice_reply,
)

CHOICES = [
    {"text_message": {"text": "Yes"}, "postback_data": "yes"},
    {"url_message": {"title": "Site", "url": "https://ex.com"}, "postback_data": "site"},
    {"call_message": {"title": "Call us", "phone_number": "+46700000001"}, "postback_data": "call"},
    {
        "location_message": {"title": "Shop", "coordinates": {"latitude": 59.3, "longitude": 18.1}},
        "postback_data": "loc",
    },
    {
        "calendar_message": {"title": "Meet", "event_start": "2030-01-01T10:00:00Z"},
        "postback_data": "cal",
    },
]


def test_text_and_media():
    assert as_text({"text_message": {"text": "hi"}}) == "hi"
    media = {"media_message": {"url": "https://ex.com/a.png"}}
    assert as_text(media) == "https://ex.com/a.png"
    assert media_url(media) == "https://ex.com/a.png"
    assert media_url({"text_message": {"text": "x"}}) is None
    assert kind_of({"text_message": {"text": "x"}, "ttl": "10s"}) == "text_message"
    assert kind_of({}) is None and as_text({}) == ""


def test_choice_message_numbered():
    content = {"choice_message": {"text_message": {"text": "Pick"}, "choices": CHOICES}}
    assert as_text(content) == "\n".join(
        [
            "Pick",
            "1. Yes",
            "2. Site: https://ex.com",
            "3. Call us: +46700000001",
            "4. Shop: https://maps.google.com/?q=59.3,18.1",
            "5. Meet (2030-01-01T10:00:00Z)",
        ]
    )
    choices = numbered_choices(content)
    assert [c["postback_data"] for c in choices] == ["yes", "site", "call", "loc", "cal"]
    assert parse_choice_reply(" 2 ", choices)["postback_data"] == "site"
    assert parse_choice_reply("2.", choices)["postback_data"] == "site"
    assert parse_choice_reply("6", choices) is None
    assert parse_choice_reply("0", choices) is None
    assert parse_choice_reply("two", choices) is None


def test_card_has_title_description_media_and_choices():
    content = {
        "card_message": {
            "title": "Sale",
            "description": "50% off",
            "media_message": {"url": "https://ex.com/c.jpg"},
            "choices": CHOICES[:2],
        }
    }
    assert as_text(content) == "Sale\n50% off\nhttps://ex.com/c.jpg\n1. Yes\n2. Site: https://ex.com"
    assert media_url(content) == "https://ex.com/c.jpg"


def test_carousel_numbers_across_cards():
    content = {
        "carousel_message": {
            "cards": [
                {"title": "A", "choices": [{"text_message": {"text": "Buy A"}, "postback_data": "a"}]},
                {
                    "title": "B",
                    "media_message": {"url": "https://ex.com/b.jpg"},
                    "choices": [{"text_message": {"text": "Buy B"}, "postback_data": "b"}],
                },
            ],
            "choices": [{"text_message": {"text": "More"}, "postback_data": "more"}],
        }
    }
    assert as_text(content) == "A\n1. Buy A\n\nB\nhttps://ex.com/b.jpg\n2. Buy B\n\n3. More"
    assert [c["postback_data"] for c in numbered_choices(content)] == ["a", "b", "more"]
    assert media_url(content) == "https://ex.com/b.jpg"


def test_location_and_list_and_template():
    loc = {
        "location_message": {
            "title": "HQ",
            "label": "Main office",
            "coordinates": {"latitude": 1.5, "longitude": -2.25},
        }
    }
    assert as_text(loc) == "HQ\nMain office\nhttps://maps.google.com/?q=1.5,-2.25"
    lst = {
        "list_message": {
            "title": "Menu",
            "description": "Choose",
            "sections": [
                {"title": "Food", "items": [{"choice": {"title": "Pizza", "postback_data": "p"}}]},
                {"title": "Drinks", "items": [{"choice": {"title": "Tea", "postback_data": "t"}}]},
            ],
        }
    }
    assert as_text(lst) == "Menu\nChoose\nFood\n1. Pizza\nDrinks\n2. Tea"
    assert [c["postback_data"] for c in numbered_choices(lst)] == ["p", "t"]
    tpl = {
        "template_message": {
            "channel_template": {"WHATSAPP": {"template_id": "x", "language_code": "en"}},
            "omni_template": {"template_id": "t1", "parameters": {"text": "Your code is 1"}},
        }
    }
    assert as_text(tpl) == "Your code is 1"
    assert as_text({"template_message": {"omni_template": {"template_id": "t9"}}}) == "t9"
