"""Telling a whole MO from a part of a concatenated one: UDH, SAR TLVs, message_payload, and
numbering that cannot be a part."""

from __future__ import annotations

import pytest

from tidings.channels.sms_smpp.inbound import mo_event
from tidings.core.encoding import encode_text
from tidings.smpp.constants import Tag, Ton
from tidings.smpp.pdu import DeliverSm
from tidings.workers.events import MobileOriginated, MoPart

UDHI = 0x40


def deliver(short_message: bytes = b"", *, esm_class: int = 0, data_coding: int = 0, **tlvs: bytes) -> DeliverSm:
    return DeliverSm(source_addr="46701234567", source_addr_ton=Ton.INTERNATIONAL, destination_addr="46700000000",
                     dest_addr_ton=Ton.INTERNATIONAL, esm_class=esm_class, data_coding=data_coding,
                     short_message=short_message, tlvs={getattr(Tag, k.upper()): v for k, v in tlvs.items()})


def test_a_short_message_is_whole() -> None:
    event = mo_event("sb", deliver(b"Hello"), 5)
    assert event == MobileOriginated("sb", None, "+46701234567", "+46700000000", "Hello", 5)


def test_a_udh_part_keeps_its_payload_undecoded_for_joining() -> None:
    event = mo_event("sb", deliver(bytes([5, 0, 3, 0x2A, 3, 2]) + b"\xd8\x3d", esm_class=UDHI, data_coding=8), 5)
    assert event == MoPart("sb", None, "+46701234567", "+46700000000", 0x2A, 3, 2, 8, b"\xd8\x3d", 5)


def test_a_16_bit_reference_part() -> None:
    event = mo_event("sb", deliver(bytes([6, 8, 4, 0x01, 0x02, 2, 1]) + b"abc", esm_class=UDHI), 5)
    assert isinstance(event, MoPart) and (event.reference, event.total, event.sequence) == (0x0102, 2, 1)


def test_sar_tlvs_mark_a_part() -> None:
    event = mo_event("sb", deliver(b"first half", sar_msg_ref_num=b"\x00\x09", sar_total_segments=b"\x02",
                                   sar_segment_seqnum=b"\x01"), 5)
    assert isinstance(event, MoPart)
    assert (event.reference, event.total, event.sequence, event.payload) == (9, 2, 1, b"first half")


def test_the_text_may_come_in_message_payload() -> None:
    long_text = "A long reply carried in the message_payload TLV instead of short_message. " * 4
    event = mo_event("sb", deliver(message_payload=encode_text(long_text, 0x00)), 5)
    assert isinstance(event, MobileOriginated) and event.body == long_text


@pytest.mark.parametrize(("total", "sequence"), [(3, 0), (3, 4), (1, 1)])
def test_numbering_that_cannot_be_a_part_is_a_whole_message(total: int, sequence: int) -> None:
    event = mo_event("sb", deliver(bytes([5, 0, 3, 1, total, sequence]) + b"text", esm_class=UDHI), 5)
    assert isinstance(event, MobileOriginated) and event.body == "text"


# -- binary MO ---------------------------------------------------------------------------------

PORTS = bytes.fromhex("06050415811581")  # UDHL 6, IE 0x05: 16-bit application ports
DATA = bytes([0x00, 0x1B, 0x7F, 0x80, 0xFF])


@pytest.mark.parametrize("data_coding", [0x04, 0x02, 0xF4, 0xF5, 0x15])
def test_8_bit_data_is_a_binary_mo_with_its_header(data_coding: int) -> None:
    event = mo_event("sb", deliver(PORTS + DATA, esm_class=UDHI, data_coding=data_coding), 5)
    assert event == MobileOriginated("sb", None, "+46701234567", "+46700000000", "ABt/gP8=", 5, "mo_binary",
                                     "06050415811581")


def test_8_bit_data_without_a_header() -> None:
    event = mo_event("sb", deliver(DATA, data_coding=0x04), 5)
    assert isinstance(event, MobileOriginated)
    assert (event.kind, event.body, event.udh) == ("mo_binary", "ABt/gP8=", None)
    # UDHI unset: the header octets are payload, as the SMSC said.
    event = mo_event("sb", deliver(PORTS + DATA, data_coding=0x04), 5)
    assert isinstance(event, MobileOriginated) and (event.body, event.udh) == ("BgUEFYEVgQAbf4D/", None)


def test_a_text_coding_with_ports_is_binary_too() -> None:
    event = mo_event("sb", deliver(PORTS + b"BEGIN:VCARD", esm_class=UDHI, data_coding=0x00), 5)
    assert isinstance(event, MobileOriginated)
    assert (event.kind, event.body, event.udh) == ("mo_binary", "QkVHSU46VkNBUkQ=", "06050415811581")


def test_a_language_shift_leaves_a_text_a_text() -> None:
    event = mo_event("sb", deliver(bytes.fromhex("03250101") + b"Merhaba", esm_class=UDHI), 5)
    assert event == MobileOriginated("sb", None, "+46701234567", "+46700000000", "Merhaba", 5)
    assert event.kind == "mo_text" and event.udh is None


def test_a_binary_part_keeps_its_bytes_and_header_elements() -> None:
    raw = bytes.fromhex("0b0504158115810003420201") + DATA
    event = mo_event("sb", deliver(raw, esm_class=UDHI, data_coding=0x04), 5)
    assert event == MoPart("sb", None, "+46701234567", "+46700000000", 0x42, 2, 1, 0x04, DATA, 5, PORTS)
    only_concat = mo_event("sb", deliver(bytes([5, 0, 3, 9, 2, 2]) + DATA, esm_class=UDHI, data_coding=0x04), 5)
    assert isinstance(only_concat, MoPart) and only_concat.udh is None and only_concat.payload == DATA
    text_part = mo_event("sb", deliver(bytes([5, 0, 3, 9, 2, 2]) + b"abc", esm_class=UDHI), 5)
    assert isinstance(text_part, MoPart) and text_part.udh is None
