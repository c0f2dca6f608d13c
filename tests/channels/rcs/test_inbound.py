"""The RCS webhook: Google's verification handshake, X-Goog-Signature (good accepted, forged
refused with nothing stored), and each UserMessage / UserEvent kind mapped to our events."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from tidings.channels.contract import ConnectorContext, InboundEvent, StatusEvent
from tidings.channels.rcs import RcsConnector, create
from tidings.channels.rcs.inbound import parse_time_ms

from .conftest import AGENT, APP, CLIENT_TOKEN, MemorySink, credentials

URL = f"/channels/rcs/apps/{APP}/webhook"
NUMBER = "+447700900123"


def push(payload: dict[str, Any], client_token: str = CLIENT_TOKEN) -> tuple[bytes, dict[str, str]]:
    """A webhook request as Google sends it (computed here independently of the code under test)."""
    data = orjson.dumps(payload)
    sig = base64.b64encode(hmac.new(client_token.encode(), data, hashlib.sha512).digest()).decode()
    body = orjson.dumps({"message": {"data": base64.b64encode(data).decode(), "messageId": "1234",
                                     "publishTime": "2025-01-01T00:00:00.123Z", "attributes": {}},
                         "subscription": "projects/rbm-x/subscriptions/rbm-agent-subscription"})
    return body, {"X-Goog-Signature": sig, "Content-Type": "application/json"}


def user_message(**content: Any) -> dict[str, Any]:
    return {"senderPhoneNumber": NUMBER, "messageId": "MsUser1", "sendTime": "2025-01-01T00:00:01.5Z",
            "agentId": AGENT, **content}


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[httpx.AsyncClient, MemorySink, RcsConnector]]:
    sink = MemorySink()
    sink.apps[(APP, "RCS")] = credentials()
    async with httpx.AsyncClient() as platform_http:
        connector = create(ConnectorContext(base_url="http://127.0.0.1:9/rbm", http=platform_http,
                                            clock=lambda: 42, public_url="http://tidings.test",
                                            options={"read_receipts": False}))
        app = Starlette(routes=[Mount("/channels/rcs", routes=connector.inbound_routes(sink))])
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://tidings.test") as client:
            yield client, sink, connector


async def test_verification_handshake(webhook: tuple[httpx.AsyncClient, MemorySink, RcsConnector]) -> None:
    client, sink, _ = webhook
    ok = await client.post(URL, json={"clientToken": CLIENT_TOKEN, "secret": "1234567890"})
    assert (ok.status_code, ok.text) == (200, "1234567890")
    wrong = await client.post(URL, json={"clientToken": "guess", "secret": "1234567890"})
    assert wrong.status_code == 403 and "1234567890" not in wrong.text
    assert sink.events == []


async def test_good_signature_is_accepted(webhook: tuple[httpx.AsyncClient, MemorySink, RcsConnector]) -> None:
    client, sink, _ = webhook
    body, headers = push(user_message(text="hello"))
    response = await client.post(URL, content=body, headers=headers)
    assert response.status_code == 200
    assert sink.events == [InboundEvent("RCS", APP, NUMBER, "MsUser1", parse_time_ms("2025-01-01T00:00:01.5Z", 0),
                                        {"text_message": {"text": "hello"}})]


@pytest.mark.parametrize("forgery", ["wrong_key", "tampered", "missing", "other_app_key"])
async def test_forged_requests_are_refused_and_nothing_is_stored(
        webhook: tuple[httpx.AsyncClient, MemorySink, RcsConnector], forgery: str) -> None:
    client, sink, _ = webhook
    body, headers = push(user_message(text="hello"), "not-the-client-token" if forgery == "wrong_key" else CLIENT_TOKEN)
    if forgery == "tampered":
        _, real_headers = push(user_message(text="hello"))
        body, _ = push(user_message(text="send me the money"))
        headers = real_headers
    elif forgery == "missing":
        del headers["X-Goog-Signature"]
    elif forgery == "other_app_key":
        sink.apps[("OTHER", "RCS")] = credentials(client_token="other-token")
        body, headers = push(user_message(text="hello"), "other-token")
    response = await client.post(URL, content=body, headers=headers)
    assert response.status_code == 401
    assert sink.events == []


async def test_malformed_and_unknown_app(webhook: tuple[httpx.AsyncClient, MemorySink, RcsConnector]) -> None:
    client, sink, _ = webhook
    assert (await client.post(URL, content=b"not json")).status_code == 400
    assert (await client.post(URL, json={"message": {"data": "%%%"}})).status_code == 400
    body, headers = push(user_message(text="hi"))
    assert (await client.post("/channels/rcs/apps/NOPE/webhook", content=body, headers=headers)).status_code == 404
    sink.apps[("NOSECRET", "RCS")] = credentials(client_token=None)
    assert (await client.post("/channels/rcs/apps/NOSECRET/webhook", content=body,
                              headers=headers)).status_code == 403
    assert sink.events == []


async def test_events_become_status_events(webhook: tuple[httpx.AsyncClient, MemorySink, RcsConnector]) -> None:
    client, sink, _ = webhook
    for event_type in ("DELIVERED", "READ", "IS_TYPING"):
        body, headers = push({"senderPhoneNumber": NUMBER, "eventType": event_type, "eventId": f"E-{event_type}",
                              "messageId": "our-msg-1", "sendTime": "2025-01-01T00:00:02.123456789Z",
                              "agentId": AGENT})
        assert (await client.post(URL, content=body, headers=headers)).status_code == 200
    at = parse_time_ms("2025-01-01T00:00:02.123Z", 0)
    assert sink.events == [StatusEvent("RCS", "our-msg-1", "DELIVERED", at),
                           StatusEvent("RCS", "our-msg-1", "READ", at)]


@pytest.mark.parametrize(("content", "expected"), [
    ({"suggestionResponse": {"postbackData": "tdg1:01CONV:size:L", "text": "Large", "type": "REPLY"}},
     {"choice_response_message": {"message_id": "01CONV", "postback_data": "size:L"}}),
    ({"suggestionResponse": {"postbackData": "made-elsewhere", "text": "Yes", "type": "ACTION"}},
     {"text_message": {"text": "Yes"}}),
    ({"location": {"latitude": 51.5, "longitude": -0.12}},
     {"location_message": {"coordinates": {"latitude": 51.5, "longitude": -0.12}, "title": "Shared location"}}),
    ({"userFile": {"payload": {"mimeType": "image/jpeg", "fileSizeBytes": 1000,
                               "fileUri": "https://rcs.example/f/1", "fileName": "photo.jpg"},
                   "thumbnail": {"mimeType": "image/jpeg", "fileUri": "https://rcs.example/t/1"}}},
     {"media_message": {"url": "https://rcs.example/f/1", "thumbnail_url": "https://rcs.example/t/1",
                        "filename_override": "photo.jpg"}}),
])
async def test_user_message_kinds(webhook: tuple[httpx.AsyncClient, MemorySink, RcsConnector],
                                  content: dict[str, Any], expected: dict[str, Any]) -> None:
    client, sink, _ = webhook
    body, headers = push(user_message(**content))
    assert (await client.post(URL, content=body, headers=headers)).status_code == 200
    [event] = sink.events
    assert isinstance(event, InboundEvent) and event.content == expected


async def test_event_of_another_agent_is_dropped(webhook: tuple[httpx.AsyncClient, MemorySink, RcsConnector]) -> None:
    client, sink, _ = webhook
    body, headers = push({**user_message(text="hi"), "agentId": "someone-else@rbm.goog"})
    assert (await client.post(URL, content=body, headers=headers)).status_code == 200
    assert sink.events == []


async def test_store_failure_is_not_acknowledged(webhook: tuple[httpx.AsyncClient, MemorySink, RcsConnector]) -> None:
    client, sink, _ = webhook
    sink.fail = True
    body, headers = push(user_message(text="hi"))
    assert (await client.post(URL, content=body, headers=headers)).status_code == 500  # Google redelivers


def test_rfc3339_times() -> None:
    assert parse_time_ms("1970-01-01T00:00:01Z", 0) == 1000
    assert parse_time_ms("1970-01-01T00:00:01.5Z", 0) == 1500
    assert parse_time_ms("1970-01-01T00:00:01.123456789Z", 0) == 1123
    assert parse_time_ms("1970-01-01T01:00:01+01:00", 0) == 1000
    assert parse_time_ms("garbage", 7) == 7
    assert parse_time_ms(None, 7) == 7
