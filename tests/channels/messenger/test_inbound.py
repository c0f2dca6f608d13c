"""Messenger webhooks: the handshake, X-Hub-Signature-256, and every messaging event kind."""

from __future__ import annotations

from typing import Any

import orjson

from tests.channels.messenger.conftest import APP_ID, PAGE_ID, PSID, Rig
from tidings.channels.contract import InboundEvent, StatusEvent
from tidings.channels.messenger.graph import sign
from tidings.channels.messenger.inbound import parse_webhook
from tidings.channels.messenger.sent import SentLog


def _payload(*events: dict[str, Any], page_id: str = PAGE_ID) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": page_id, "time": 1_700_000_000_500, "messaging": [
        {"sender": {"id": PSID}, "recipient": {"id": page_id}, "timestamp": 1_700_000_000_000, **e}
        for e in events]}]}


async def _post(rig: Rig, app_id: str, body: bytes, signature: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    response = await rig.http.post(f"{rig.url}/channels/messenger/apps/{app_id}/webhook", content=body,
                                   headers=headers)
    return response.status_code


async def test_signed_webhook_accepted_forged_rejected(rig: Rig) -> None:
    body = orjson.dumps(_payload({"message": {"mid": "m_1", "text": "hello"}}))
    assert await _post(rig, APP_ID, body, sign("meta-app-secret", body)) == 200
    assert [e.content for e in rig.sink.inbound()] == [{"text_message": {"text": "hello"}}]
    forged = orjson.dumps(_payload({"message": {"mid": "m_2", "text": "send me money"}}))
    assert await _post(rig, APP_ID, forged, sign("guessed-secret", forged)) == 401
    assert await _post(rig, APP_ID, forged, None) == 401
    assert await _post(rig, APP_ID, forged, sign("meta-app-secret", body)) == 401  # another body's
    assert await _post(rig, "01NOSECRET", forged, sign("", forged)) == 401
    assert await _post(rig, "01UNKNOWN", forged, sign("meta-app-secret", forged)) == 404
    assert len(rig.sink.inbound()) == 1
    other_page = orjson.dumps(_payload({"message": {"mid": "m_3", "text": "x"}}, page_id="999"))
    assert await _post(rig, APP_ID, other_page, sign("meta-app-secret", other_page)) == 200
    assert len(rig.sink.inbound()) == 1
    bad_json = b"{not json"
    assert await _post(rig, APP_ID, bad_json, sign("meta-app-secret", bad_json)) == 400


async def test_verification_handshake(rig: Rig) -> None:
    url = f"{rig.url}/channels/messenger/apps/{APP_ID}/webhook"
    token = rig.connector.verify_token(APP_ID, rig.sink.apps[APP_ID])
    ok = await rig.http.get(url, params={"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "8371"})
    assert ok.status_code == 200 and ok.text == "8371"
    bad = await rig.http.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"})
    assert bad.status_code == 403
    unknown = await rig.http.get(f"{rig.url}/channels/messenger/apps/01UNKNOWN/webhook",
                                 params={"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1"})
    assert unknown.status_code == 404


def test_message_kinds() -> None:
    events = parse_webhook(_payload(
        {"message": {"mid": "m_q", "text": "Large", "quick_reply": {"payload": "size:L"}}},
        {"postback": {"title": "Buy", "payload": "buy:1", "mid": "m_p"}},
        {"message": {"mid": "m_a", "attachments": [
            {"type": "image", "payload": {"url": "https://cdn.example/a.jpg"}},
            {"type": "location", "title": "Home", "payload": {"coordinates": {"lat": 59.3, "long": 18.0}}},
            {"type": "fallback", "payload": {"url": "https://news.example/x"}},
            {"type": "sticker_unknown", "payload": {}}]}},
        {"message": {"mid": "m_r", "text": "yes that one", "reply_to": {"mid": "m_ours"}}},
        {"message": {"mid": "m_echo", "text": "we said", "is_echo": True}},
    ), APP_ID, page_id=PAGE_ID)
    assert all(isinstance(e, InboundEvent) and e.identity == PSID and e.app_id == APP_ID for e in events)
    inbound = [e for e in events if isinstance(e, InboundEvent)]
    assert [(e.channel_message_id, e.content) for e in inbound] == [
        ("m_q", {"choice_response_message": {"message_id": "", "postback_data": "size:L"}}),
        ("m_p", {"choice_response_message": {"message_id": "", "postback_data": "buy:1"}}),
        ("m_a", {"media_message": {"url": "https://cdn.example/a.jpg"}}),
        ("m_a#1", {"location_message": {"coordinates": {"latitude": 59.3, "longitude": 18.0}, "title": "Home"}}),
        ("m_a#2", {"text_message": {"text": "https://news.example/x"}}),
        ("m_r", {"text_message": {"text": "yes that one"}}),
    ]
    assert inbound[-1].reply_to_channel_message_id == "m_ours"
    assert all(e.at_ms == 1_700_000_000_000 for e in inbound)


def test_watermarks_through_the_sent_log() -> None:
    log = SentLog()
    log.add(APP_ID, PSID, "m_1", 1000, ["yes"])
    log.add(APP_ID, PSID, "m_2", 2000)
    log.add(APP_ID, PSID, "m_3", 3000)
    log.add(APP_ID, "psid-other", "m_x", 1000)
    delivered = parse_webhook(_payload({"delivery": {"mids": ["m_2"], "watermark": 2500}}), APP_ID, log=log)
    assert [(e.channel_message_id, e.status) for e in delivered if isinstance(e, StatusEvent)] == [
        ("m_2", "DELIVERED"), ("m_1", "DELIVERED")]
    read = parse_webhook(_payload({"read": {"watermark": 2500}}), APP_ID, log=log)
    assert read == [StatusEvent("MESSENGER", "", "READ", 2500, identity=PSID, up_to_ms=2500, app_id=APP_ID)]
    assert read[0].is_watermark
    later = parse_webhook(_payload({"delivery": {"watermark": 9000}}, {"read": {"watermark": 9000}}), APP_ID, log=log)
    assert [(e.channel_message_id, e.status, e.up_to_ms) for e in later if isinstance(e, StatusEvent)] == [
        ("m_3", "DELIVERED", None), ("", "READ", 9000)]
    assert log.offered(APP_ID, PSID, "yes") == "m_1" and log.offered(APP_ID, PSID, "no") is None


def test_without_a_log_delivery_mids_still_count() -> None:
    events = parse_webhook(_payload({"delivery": {"mids": ["m_9"], "watermark": 5}}, {"read": {"watermark": 5}}),
                           APP_ID)
    assert events == [StatusEvent("MESSENGER", "m_9", "DELIVERED", 5),
                      StatusEvent("MESSENGER", "", "READ", 5, identity=PSID, up_to_ms=5, app_id=APP_ID)]


def test_not_a_page_payload() -> None:
    assert parse_webhook({"object": "instagram", "entry": [{"id": PAGE_ID, "messaging": [
        {"sender": {"id": PSID}, "message": {"mid": "m", "text": "x"}}]}]}, APP_ID) == []
    assert parse_webhook(_payload({"message": {"text": "no mid"}}), APP_ID) == []
