"""Webhook payloads → events, without the network."""

from __future__ import annotations

from typing import Any

from tidings.channels.contract import InboundEvent, StatusEvent
from tidings.channels.whatsapp.inbound import media_ids, parse_webhook


def webhook(value: dict[str, Any], phone_number_id: str = "PN") -> dict[str, Any]:
    return {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550001", "phone_number_id": phone_number_id},
        **value}}]}]}


def test_statuses() -> None:
    payload = webhook({"statuses": [
        {"id": "wamid.A", "status": "sent", "timestamp": "1700000000", "recipient_id": "4670"},
        {"id": "wamid.A", "status": "delivered", "timestamp": "1700000001", "recipient_id": "4670"},
        {"id": "wamid.A", "status": "read", "timestamp": "1700000002", "recipient_id": "4670"},
        {"id": "wamid.B", "status": "failed", "timestamp": "1700000003", "recipient_id": "4670",
         "errors": [{"code": 131026, "title": "Message undeliverable"}]}]})
    assert parse_webhook(payload, "APP") == [
        StatusEvent("WHATSAPP", "wamid.A", "DELIVERED", 1_700_000_001_000),
        StatusEvent("WHATSAPP", "wamid.A", "READ", 1_700_000_002_000),
        StatusEvent("WHATSAPP", "wamid.B", "FAILED", 1_700_000_003_000, "131026: Message undeliverable"),
    ]


def test_messages() -> None:
    context = {"from": "15550001", "id": "wamid.OUT"}
    payload = webhook({"contacts": [{"profile": {"name": "Ann"}, "wa_id": "46701234567"}], "messages": [
        {"from": "46701234567", "id": "wamid.1", "timestamp": "1700000000", "type": "text", "text": {"body": "hi"}},
        {"from": "46701234567", "id": "wamid.2", "timestamp": "1700000001", "type": "interactive", "context": context,
         "interactive": {"type": "list_reply", "list_reply": {"id": "size:L", "title": "L"}}},
        {"from": "46701234567", "id": "wamid.3", "timestamp": "1700000002", "type": "location",
         "location": {"latitude": 59.3, "longitude": 18.1, "name": "Home", "address": "Main St"}},
        {"from": "46701234567", "id": "wamid.4", "timestamp": "1700000003", "type": "image",
         "image": {"id": "MEDIA1", "mime_type": "image/jpeg"}},
        {"from": "46701234567", "id": "wamid.5", "timestamp": "1700000004", "type": "reaction",
         "reaction": {"message_id": "wamid.OUT", "emoji": "👍"}},
    ]})
    assert media_ids(payload, "PN") == ["MEDIA1"]
    events = parse_webhook(payload, "APP", phone_number_id="PN", media_urls={"MEDIA1": "https://cdn/1.jpg"})
    assert all(isinstance(e, InboundEvent) and e.identity == "+46701234567" and e.display_name == "Ann" for e in events)
    assert [e.content for e in events] == [  # type: ignore[union-attr]
        {"text_message": {"text": "hi"}},
        {"choice_response_message": {"message_id": "wamid.OUT", "postback_data": "size:L"}},
        {"location_message": {"coordinates": {"latitude": 59.3, "longitude": 18.1}, "title": "Home", "label": "Main St"}},
        {"media_message": {"url": "https://cdn/1.jpg"}},
    ]
    assert events[1].reply_to_channel_message_id == "wamid.OUT"  # type: ignore[union-attr]
    assert parse_webhook(payload, "APP", phone_number_id="OTHER") == []
    assert parse_webhook({"object": "page", "entry": []}, "APP") == []
