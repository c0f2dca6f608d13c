"""Binary messages to the SMSC: one submit_sm with data_coding 0x04 (8-bit data), esm_class UDHI
when there is a user data header, short_message = header + payload exactly, the same
validity_period as text, in every long-message mode."""

from __future__ import annotations

import pytest

from tidings.channels.base import OutboundSms
from tidings.channels.sms_smpp.transcode import submit_pdus
from tidings.smpp.constants import RegisteredDelivery, Ton
from tidings.smpp.pdu import SubmitSm
from tidings.workers.dispatch import binary_content

NOW = 1_767_268_800_000
PORTS = bytes.fromhex("06050415811581")
PAYLOAD = bytes([0x00, 0x1B, 0x7F, 0x80, 0xFF]) + bytes(range(128))  # 133 octets: 140 with the header


def binary(payload: bytes, udh: bytes, expire_at_ms: int | None = None, flash: bool = False) -> OutboundSms:
    return OutboundSms(1, "+46700000000", "+46701112233", "(base64)", flash=flash, expire_at_ms=expire_at_ms,
                       payload=payload, udh=udh)


def on_the_wire(pdus: list[SubmitSm]) -> list[SubmitSm]:
    return [SubmitSm.decode(p.encode()) for p in pdus]


@pytest.mark.parametrize("mode", ["udh", "sar", "payload"])
def test_one_submit_sm_with_header_and_payload(mode: str) -> None:
    [pdu] = on_the_wire(submit_pdus(binary(PAYLOAD, PORTS, NOW + 3_600_000), 7, mode, now_ms=NOW))
    assert pdu.data_coding == 0x04
    assert pdu.esm_class == 0x40
    assert pdu.short_message == PORTS + PAYLOAD
    assert len(pdu.short_message) == 140
    assert pdu.validity_period == "000000010000000R"
    assert pdu.registered_delivery == RegisteredDelivery.ON_SUCCESS_OR_FAILURE
    assert (pdu.source_addr, pdu.source_addr_ton, pdu.destination_addr, pdu.dest_addr_ton) == (
        "46700000000", Ton.INTERNATIONAL, "46701112233", Ton.INTERNATIONAL)
    assert pdu.tlvs == {}


def test_without_a_header_no_udhi() -> None:
    [pdu] = on_the_wire(submit_pdus(binary(b"\x00\x01\x02", b""), 7))
    assert (pdu.data_coding, pdu.esm_class, pdu.short_message, pdu.validity_period) == (0x04, 0x00, b"\x00\x01\x02", "")


def test_flash_does_not_change_binary() -> None:
    [pdu] = submit_pdus(binary(b"\xff", PORTS, flash=True), 7)
    assert pdu.data_coding == 0x04


def test_an_expiry_needs_the_time_of_sending() -> None:
    with pytest.raises(ValueError, match="now_ms"):
        submit_pdus(binary(b"x", b"", NOW), 7)


def test_dispatch_reads_the_batch_content() -> None:
    assert binary_content("AAF/gP8=", "06050415811581") == (bytes([0, 1, 0x7F, 0x80, 0xFF]), PORTS)
    assert binary_content("AAE=", None) == (b"\x00\x01", b"")
