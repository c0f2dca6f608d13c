"""The XMS callback bodies: exact shapes, and what the official SDK parses them into."""

from __future__ import annotations

import datetime as dt

import orjson
from sinch import SinchClient
from sinch.domains.sms.models.v1.response import BatchDeliveryReport, RecipientDeliveryReport
from sinch.domains.sms.models.v1.shared.mo_binary_message import MOBinaryMessage
from sinch.domains.sms.models.v1.shared.mo_text_message import MOTextMessage

from tidings.core.statuses import Status
from tidings.webhooks import signing, sms_events

AT_MS = 1_714_564_800_123  # 2024-05-01T12:00:00.123Z
AT = dt.datetime(2024, 5, 1, 12, 0, 0, 123_000, tzinfo=dt.UTC)
SECRET = "project-webhook-secret"


def parse(event: dict[str, object]) -> object:
    """What a customer's SDK-based receiver gets from our signed request."""
    body = sms_events.encode(event)
    headers = signing.sign(SECRET, body, AT_MS) | {"content-type": "application/json"}
    events = SinchClient(key_id="k", key_secret="s", project_id="p").sms.sinch_events(SECRET)
    assert events.validate_authentication_header(headers, body)
    return events.parse_event(body, headers)


def test_timestamps_are_utc_with_milliseconds_and_z() -> None:
    assert sms_events.iso_timestamp(AT_MS) == "2024-05-01T12:00:00.123Z"
    assert sms_events.iso_timestamp(0) == "1970-01-01T00:00:00.000Z"
    assert sms_events.iso_timestamp(1_714_564_800_005) == "2024-05-01T12:00:00.005Z"


def test_summary_report_counts_statuses_without_recipients() -> None:
    report = sms_events.batch_delivery_report(
        batch_id="01HXBATCH",
        report_type="summary",
        total_message_count=3,
        statuses=[("Delivered", 0, 2, ["+46701", "+46702"]), ("Failed", 404, 1, ["+46703"]),
                  ("Queued", 400, 0, [])],
    )
    assert report == {
        "type": "delivery_report_sms",
        "batch_id": "01HXBATCH",
        "total_message_count": 3,
        "statuses": [{"code": 0, "status": "Delivered", "count": 2},
                     {"code": 404, "status": "Failed", "count": 1}],
    }


def test_full_report_lists_recipients_and_carries_the_client_reference() -> None:
    report = sms_events.batch_delivery_report(
        batch_id="01HXBATCH",
        report_type="full",
        total_message_count=3,
        statuses=[(Status.DELIVERED, 0, 2, ("+46701", "+46702")), (Status.FAILED, 404, 1, ["+46703"])],
        client_reference="order-17",
    )
    assert report["statuses"] == [
        {"code": 0, "status": "Delivered", "count": 2, "recipients": ["+46701", "+46702"]},
        {"code": 404, "status": "Failed", "count": 1, "recipients": ["+46703"]},
    ]
    assert report["client_reference"] == "order-17"
    parsed = parse(report)
    assert isinstance(parsed, BatchDeliveryReport)
    assert parsed.type == "delivery_report_sms"
    assert parsed.batch_id == "01HXBATCH"
    assert parsed.total_message_count == 3
    assert parsed.client_reference == "order-17"
    assert [(s.status, s.code, s.count, s.recipients) for s in parsed.statuses] == [
        ("Delivered", 0, 2, ["+46701", "+46702"]), ("Failed", 404, 1, ["+46703"]),
    ]


def test_summary_report_parses_with_no_recipients() -> None:
    parsed = parse(sms_events.batch_delivery_report(
        batch_id="B1", report_type="summary", total_message_count=1,
        statuses=[("Delivered", 0, 1, [])],
    ))
    assert isinstance(parsed, BatchDeliveryReport)
    assert parsed.statuses[0].recipients is None
    assert parsed.client_reference is None


def test_recipient_report_has_the_required_fields_only_when_nothing_optional_is_known() -> None:
    report = sms_events.recipient_delivery_report(
        batch_id="01HXBATCH", recipient="+46701234567", status=Status.DISPATCHED, code=401,
        at_ms=AT_MS,
    )
    assert report == {
        "type": "recipient_delivery_report_sms",
        "batch_id": "01HXBATCH",
        "recipient": "+46701234567",
        "code": 401,
        "status": "Dispatched",
        "at": "2024-05-01T12:00:00.123Z",
    }
    assert b'"status":"Dispatched"' in sms_events.encode(report)


def test_recipient_report_with_every_optional_field_parses_into_the_sdk_model() -> None:
    report = sms_events.recipient_delivery_report(
        batch_id="01HXBATCH", recipient="+46701234567", status="Delivered", code=0, at_ms=AT_MS,
        client_reference="order-17", operator_status_at_ms=AT_MS - 2_000, encoding="GSM",
        number_of_message_parts=2, applied_originator="Tidings", operator="24001",
    )
    assert report["operator_status_at"] == "2024-05-01T11:59:58.123Z"
    parsed = parse(report)
    assert isinstance(parsed, RecipientDeliveryReport)
    assert parsed.type == "recipient_delivery_report_sms"
    assert (parsed.batch_id, parsed.recipient, parsed.status, parsed.code) == (
        "01HXBATCH", "+46701234567", "Delivered", 0)
    assert parsed.at == AT
    assert parsed.operator_status_at == AT - dt.timedelta(seconds=2)
    assert parsed.client_reference == "order-17"
    assert parsed.encoding == "GSM"
    assert parsed.number_of_message_parts == 2
    assert parsed.applied_originator == "Tidings"
    assert parsed.operator == "24001"


def test_mo_text_sends_the_sender_as_from_and_parses_into_a_text_message() -> None:
    message = sms_events.mo_text(
        id="01HXMO", sender="+46701234567", to="12345", body="Hej då €", received_at_ms=AT_MS,
    )
    assert message == {
        "type": "mo_text",
        "id": "01HXMO",
        "from": "+46701234567",
        "to": "12345",
        "body": "Hej då €",
        "received_at": "2024-05-01T12:00:00.123Z",
    }
    parsed = parse(message)
    assert isinstance(parsed, MOTextMessage)  # not a raw fallback response
    assert (parsed.id, parsed.from_, parsed.to, parsed.body) == (
        "01HXMO", "+46701234567", "12345", "Hej då €")
    assert parsed.received_at == AT
    assert parsed.operator_id is None


def test_mo_text_optional_fields_parse() -> None:
    parsed = parse(sms_events.mo_text(
        id="01HXMO", sender="+46701234567", to="12345", body="STOP", received_at_ms=AT_MS,
        sent_at_ms=AT_MS - 1_000, operator_id="24001", client_reference="order-17",
    ))
    assert isinstance(parsed, MOTextMessage)
    assert parsed.sent_at == AT - dt.timedelta(seconds=1)
    assert parsed.operator_id == "24001"
    assert parsed.client_reference == "order-17"


def test_mo_binary_carries_base64_and_the_header_and_parses_into_a_binary_message() -> None:
    message = sms_events.mo_binary(
        id="01HXMO", sender="+46701234567", to="12345", body="ABt/gP8=", udh="06050415811581",
        received_at_ms=AT_MS, client_reference="order-17",
    )
    assert message == {
        "type": "mo_binary",
        "id": "01HXMO",
        "from": "+46701234567",
        "to": "12345",
        "body": "ABt/gP8=",
        "udh": "06050415811581",
        "received_at": "2024-05-01T12:00:00.123Z",
        "client_reference": "order-17",
    }
    parsed = parse(message)
    assert isinstance(parsed, MOBinaryMessage)
    assert (parsed.id, parsed.from_, parsed.to, parsed.body, parsed.udh, parsed.type) == (
        "01HXMO", "+46701234567", "12345", "ABt/gP8=", "06050415811581", "mo_binary")
    assert parsed.received_at == AT and parsed.client_reference == "order-17"


def test_mo_binary_without_a_header_still_has_udh() -> None:
    """The SDK's MOBinaryMessage requires `udh`: none is sent as an empty string."""
    message = sms_events.mo_binary(id="1", sender="+4670", to="1", body="AAE=", udh=None, received_at_ms=AT_MS)
    assert message["udh"] == ""
    parsed = parse(message)
    assert isinstance(parsed, MOBinaryMessage) and parsed.udh == ""


def test_encode_is_compact_utf8_json() -> None:
    body = sms_events.encode(sms_events.mo_text(
        id="1", sender="+4670", to="1", body="€", received_at_ms=0))
    assert b" " not in body
    assert "€".encode() in body
    assert orjson.loads(body)["body"] == "€"
