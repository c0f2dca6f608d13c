from __future__ import annotations

from datetime import datetime

import pytest

from tidings.smpp import (
    DataCoding,
    DeliverSm,
    DeliveryReceipt,
    EsmClass,
    MessageState,
    ReceiptError,
    ReceiptStat,
    Tag,
    decode,
    format_receipt_text,
    parse_receipt_text,
    receipt_from_pdu,
    receipt_pdu,
)

CANONICAL = "id:0123456789 sub:001 dlvrd:001 submit date:2401311200 done date:2401311201 stat:DELIVRD err:000 text:Hello world"


def test_canonical_text_parses_every_field() -> None:
    receipt = parse_receipt_text(CANONICAL)
    assert receipt == DeliveryReceipt(
        message_id="0123456789",
        stat=ReceiptStat.DELIVRD,
        message_state=MessageState.DELIVERED,
        submitted=1,
        delivered=1,
        submit_date=datetime(2024, 1, 31, 12, 0),
        done_date=datetime(2024, 1, 31, 12, 1),
        error="000",
        text="Hello world",
    )
    assert receipt.is_final


def test_format_then_parse_round_trips() -> None:
    receipt = parse_receipt_text(CANONICAL)
    assert receipt is not None
    assert format_receipt_text(receipt) == CANONICAL


def test_format_truncates_text_to_twenty_characters_and_fills_counts() -> None:
    text = format_receipt_text(DeliveryReceipt(message_id="x", message_state=MessageState.EXPIRED, text="a" * 30))
    assert text == "id:x sub:000 dlvrd:000 submit date: done date: stat:EXPIRED err:000 text:" + "a" * 20


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "ID:ABC SUB:001 DLVRD:000 SUBMIT DATE:2401011200 DONE DATE:2401011205 STAT:UNDELIV ERR:001 TEXT:Hi",
            {"message_id": "ABC", "stat": "UNDELIV", "message_state": MessageState.UNDELIVERABLE, "error": "001", "text": "Hi"},
        ),
        (
            "id:77 submit date:240101120000 done date:240101120130 stat:DELIVRD err:000",
            {"message_id": "77", "done_date": datetime(2024, 1, 1, 12, 1, 30), "submitted": None, "text": ""},
        ),
        (
            "id:5 sub:1 dlvrd:1 submit_date:2401011200 done_date:2401011201 stat:DELIVERED err:0",
            {"stat": "DELIVRD", "message_state": MessageState.DELIVERED, "submit_date": datetime(2024, 1, 1, 12, 0)},
        ),
        (
            "id:9 stat:ACCEPTD err:000 mcc:234 mnc:10 text:x",
            {"stat": "ACCEPTD", "error": "000", "text": "x"},
        ),
        (
            "id:10 stat:REJECTD err:0B text:stat:DELIVRD id:fake",
            {"message_id": "10", "stat": "REJECTD", "error": "0B", "text": "stat:DELIVRD id:fake"},
        ),
        ("Id: 11  Stat: enroute", {"message_id": "11", "stat": "ENROUTE", "message_state": MessageState.ENROUTE}),
        ("id:12 stat:FAILED", {"stat": "FAILED", "message_state": None}),
        ("id:13 submit date:9999999999 stat:EXPIRED", {"submit_date": None, "message_state": MessageState.EXPIRED}),
    ],
    ids=["upper-case", "seconds-no-counts", "underscores-long-stat", "extra-fields", "text-mimics-keys", "spaces", "unknown-stat", "bad-date"],
)
def test_real_world_variants(text: str, expected: dict[str, object]) -> None:
    receipt = parse_receipt_text(text)
    assert receipt is not None
    for field, value in expected.items():
        assert getattr(receipt, field) == value, field


def test_text_that_is_not_a_receipt() -> None:
    assert parse_receipt_text("Hello, see you at 10:30") is None
    assert parse_receipt_text("") is None


def test_enroute_is_not_final() -> None:
    receipt = parse_receipt_text("id:1 stat:ENROUTE")
    assert receipt is not None and not receipt.is_final
    unknown = parse_receipt_text("id:1 stat:WHATEVER")
    assert unknown is not None and not unknown.is_final


def deliver(short_message: bytes = b"", esm_class: int = EsmClass.DELIVERY_RECEIPT, **tlvs: int | str | bytes) -> DeliverSm:
    return DeliverSm(
        source_addr="46701234567",
        destination_addr="Tidings",
        esm_class=esm_class,
        short_message=short_message,
        tlvs={getattr(Tag, name.upper()): value for name, value in tlvs.items()},
    )


def test_tlvs_win_over_the_text() -> None:
    pdu = deliver(
        b"id:decimal-123 stat:ENROUTE err:000 text:hi",
        receipted_message_id="7b",
        message_state=MessageState.UNDELIVERABLE,
        network_error_code=b"\x03\x00\x11",
    )
    receipt = receipt_from_pdu(decode(pdu.encode()))  # type: ignore[arg-type]
    assert receipt is not None
    assert receipt.message_id == "7b"
    assert receipt.message_state is MessageState.UNDELIVERABLE
    assert receipt.stat == ReceiptStat.UNDELIV
    assert receipt.network_error == (3, 17)
    assert receipt.text == "hi"


def test_text_fills_in_when_tlvs_are_missing() -> None:
    receipt = receipt_from_pdu(deliver(CANONICAL.encode()))
    assert receipt is not None
    assert (receipt.message_id, receipt.message_state, receipt.network_error) == ("0123456789", MessageState.DELIVERED, None)


def test_invalid_message_state_tlv_falls_back_to_the_text() -> None:
    receipt = receipt_from_pdu(deliver(b"id:1 stat:EXPIRED", message_state=99))
    assert receipt is not None and receipt.message_state is MessageState.EXPIRED


def test_receipt_text_in_message_payload_or_ucs2() -> None:
    from_payload = receipt_from_pdu(deliver(message_payload=b"id:p1 stat:DELIVRD"))
    assert from_payload is not None and from_payload.message_id == "p1"
    ucs2 = deliver("id:u1 stat:DELIVRD".encode("utf-16-be"))
    ucs2.data_coding = DataCoding.UCS2
    from_ucs2 = receipt_from_pdu(ucs2)
    assert from_ucs2 is not None and from_ucs2.message_id == "u1"


def test_mobile_originated_message_is_not_a_receipt() -> None:
    assert receipt_from_pdu(deliver(b"id:1 stat:DELIVRD looks like one", esm_class=EsmClass.DEFAULT)) is None


def test_tlv_alone_marks_a_receipt() -> None:
    receipt = receipt_from_pdu(deliver(esm_class=EsmClass.DEFAULT, receipted_message_id="r1", message_state=MessageState.DELIVERED))
    assert receipt is not None and receipt.message_id == "r1" and receipt.stat == ReceiptStat.DELIVRD


def test_receipt_without_id_is_an_error() -> None:
    with pytest.raises(ReceiptError):
        receipt_from_pdu(deliver(b"stat:DELIVRD"))


def test_receipt_pdu_carries_text_and_tlvs() -> None:
    receipt = DeliveryReceipt(
        message_id="abc",
        message_state=MessageState.DELIVERED,
        submitted=1,
        delivered=1,
        submit_date=datetime(2024, 1, 1, 12, 0),
        done_date=datetime(2024, 1, 1, 12, 1),
        network_error=(3, 0),
        text="Your code",
    )
    pdu = receipt_pdu(receipt, source_addr="46701234567", destination_addr="Tidings", source_addr_ton=1)
    assert pdu.esm_class == EsmClass.DELIVERY_RECEIPT and pdu.source_addr_ton == 1
    decoded = decode(pdu.encode())
    assert isinstance(decoded, DeliverSm)
    parsed = receipt_from_pdu(decoded)
    assert parsed is not None
    assert parsed.message_id == "abc" and parsed.stat == ReceiptStat.DELIVRD
    assert parsed.submit_date == receipt.submit_date and parsed.text == "Your code"
    assert parsed.network_error == (3, 0)


@pytest.mark.parametrize("text", [
    CANONICAL,
    "id:a1b2 sub:001 dlvrd:000 submit date:240131120059 done date:240131120100 stat:UNDELIV err:027 text:",
    "id:x sub:1 dlvrd:1 submit date:2401311200 done date:9913311200 stat:delivered err:0 text:  spaced  ",
    "id:x sub:001 dlvrd:001 submit date:2401311200 done date:2401311200 stat:DELIVRD err:000 text:stat:UNDELIV err:1",
    "id:x sub:001 dlvrd:001 submit date:2401311200 done date:2401311200 stat:DELIVRD err:000 text:two\nlines",
    "id:x sub:001 dlvrd:001 submit date:24013112 done date:2401311200 stat:DELIVRD err:000 text:short date",
    format_receipt_text(DeliveryReceipt("ff00aa", ReceiptStat.EXPIRED, MessageState.EXPIRED, 1, 0,
                                        datetime(2026, 11, 26, 14, 5), datetime(2026, 11, 26, 14, 6), "001",
                                        text="Your code is 123456 and more")),
])
def test_the_one_match_reading_of_the_usual_layout_agrees_with_the_general_one(text: str) -> None:
    from tidings.smpp.receipt import _CANONICAL, _parse_any_layout

    assert _CANONICAL.fullmatch(text) is not None  # these take the one-match path
    assert parse_receipt_text(text) == _parse_any_layout(text)
