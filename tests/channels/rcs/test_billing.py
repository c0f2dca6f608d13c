"""The billable event recorded for each RCS message (Google's standard billing model)."""

from __future__ import annotations

from tidings.channels.rcs.billing import SESSION_MS, classify

NOW = 1_750_000_000_000
HOUR = 3_600_000


def test_short_plain_text_is_a_basic_message() -> None:
    bill = classify({"text": "x" * 160}, now_ms=NOW, last_inbound_ms=None)
    assert (bill.category, bill.message_type, bill.session_ends_ms) == ("BASIC_MESSAGE", "BASIC_MESSAGE", None)


def test_basic_limit_is_160_utf8_bytes_not_characters() -> None:
    assert classify({"text": "é" * 80}, now_ms=NOW, last_inbound_ms=None).category == "BASIC_MESSAGE"
    assert classify({"text": "é" * 81}, now_ms=NOW, last_inbound_ms=None).category == "SINGLE_MESSAGE"
    assert classify({"text": "x" * 161}, now_ms=NOW, last_inbound_ms=None).category == "SINGLE_MESSAGE"


def test_rich_content_or_suggestions_make_a_single_message() -> None:
    for content in ({"contentInfo": {"fileUrl": "https://x/a.png"}},
                    {"richCard": {"standaloneCard": {"cardContent": {"title": "t"}}}},
                    {"text": "hi", "suggestions": [{"reply": {"text": "ok", "postbackData": "ok"}}]}):
        assert classify(content, now_ms=NOW, last_inbound_ms=None).category == "SINGLE_MESSAGE"


def test_reply_to_our_message_within_24h_is_an_a2p_conversation() -> None:
    bill = classify({"text": "thanks"}, now_ms=NOW, last_inbound_ms=NOW - HOUR, last_outbound_ms=NOW - 2 * HOUR)
    assert bill.category == "A2P_CONVERSATION"
    assert bill.message_type == "BASIC_MESSAGE"
    assert bill.session_ends_ms == NOW - HOUR + SESSION_MS


def test_user_initiated_is_a_p2a_conversation() -> None:
    # Nothing sent before the user wrote, or our last message was more than 24 h before it.
    assert classify({"text": "hi"}, now_ms=NOW, last_inbound_ms=NOW - HOUR).category == "P2A_CONVERSATION"
    assert classify({"text": "hi"}, now_ms=NOW, last_inbound_ms=NOW - HOUR,
                    last_outbound_ms=NOW - HOUR - SESSION_MS - 1).category == "P2A_CONVERSATION"


def test_session_expires_after_24h() -> None:
    bill = classify({"text": "hi"}, now_ms=NOW, last_inbound_ms=NOW - SESSION_MS)
    assert bill.category == "BASIC_MESSAGE"


def test_non_conversational_agent_is_always_billed_per_message() -> None:
    bill = classify({"text": "hi"}, now_ms=NOW, last_inbound_ms=NOW - HOUR, conversational=False)
    assert bill.category == "BASIC_MESSAGE"
