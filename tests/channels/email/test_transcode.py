"""AppMessage kinds rendered as email: text part equals the shared text fallback, HTML is native
and escaped."""

from __future__ import annotations

from tidings.channels.email.transcode import render
from tidings.conversations.degrade import as_text

REPLY = "reply+APP@mail.acme.test"


def test_text_is_escaped_paragraphs() -> None:
    out = render({"text_message": {"text": "Hi <b>you</b>\nline two\n\nnext"}}, reply_to=REPLY)
    assert out.text == "Hi <b>you</b>\nline two\n\nnext"
    assert "<p>Hi &lt;b&gt;you&lt;/b&gt;<br>line two</p><p>next</p>" in out.html
    assert out.subject == "Hi <b>you</b>"


def test_carousel_numbers_choices_across_cards_like_the_text_part() -> None:
    content = {"carousel_message": {
        "cards": [
            {"title": "A", "choices": [{"text_message": {"text": "Pick A"}, "postback_data": "a"}]},
            {"title": "B", "choices": [{"text_message": {"text": "Pick B"}, "postback_data": "b"}]},
        ],
        "choices": [{"text_message": {"text": "Neither"}, "postback_data": "n"}],
    }}
    out = render(content, reply_to=REPLY, metadata={"email_subject": "Choose"})
    assert out.text == as_text(content)
    assert "1. Pick A" in out.text and "3. Neither" in out.text
    assert out.subject == "Choose"
    assert out.html.count('class="card"') == 2
    assert "body=1" in out.html and "body=2" in out.html and "body=3" in out.html
    assert out.html.index("Pick A") < out.html.index("Pick B") < out.html.index("Neither")


def test_list_location_and_media() -> None:
    listing = render({"list_message": {"title": "Menu", "sections": [
        {"title": "Drinks", "items": [{"choice": {"title": "Tea", "description": "hot", "postback_data": "t"}},
                                      {"choice": {"title": "Juice", "postback_data": "j"}}]},
        {"title": "Food", "items": [{"choice": {"title": "Soup", "postback_data": "s"}}]}]}}, reply_to=REPLY)
    assert listing.subject == "Menu"
    assert "<h3>Drinks</h3>" in listing.html and '<ol start="3">' in listing.html
    assert "Tea</a> — hot" in listing.html and "3. Soup" in listing.text

    where = render({"location_message": {"title": "Shop", "label": "Main St 1",
                                         "coordinates": {"latitude": 59.3, "longitude": 18.1}}}, reply_to=REPLY)
    assert 'href="https://maps.google.com/?q=59.3,18.1"' in where.html and "Main St 1" in where.html

    pdf = render({"media_message": {"url": "https://cdn.test/a.pdf", "filename_override": "invoice.pdf"}},
                 reply_to=REPLY)
    assert '<a href="https://cdn.test/a.pdf">invoice.pdf</a>' in pdf.html
    assert pdf.text == "https://cdn.test/a.pdf"


def test_hostile_urls_are_attribute_escaped() -> None:
    out = render({"choice_message": {"text_message": {"text": "x"}, "choices": [
        {"url_message": {"title": "t", "url": 'https://a.test/"><script>alert(1)</script>'}}]}}, reply_to=REPLY)
    assert "<script>" not in out.html
    assert "&quot;&gt;&lt;script&gt;" in out.html


def test_only_web_mail_and_phone_links() -> None:
    out = render({"card_message": {"title": "t", "media_message": {"url": "javascript:alert(1)"},
                                   "choices": [{"url_message": {"title": "Go", "url": "javascript:alert(2)"}}]}},
                 reply_to=REPLY)
    assert "javascript:" not in out.html
    assert '<span class="choice">Go</span>' in out.html
