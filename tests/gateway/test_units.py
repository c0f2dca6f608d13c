"""The gateway's pure parts: reading submit_sm, SMPP times, receipt modes, the deliver_sm it
builds (checked by the third-party smpplib parser), and new credentials within SMPP's limits."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import smpplib.client
import smpplib.smpp

from tidings.core.encoding import segment
from tidings.core.errors import RequestError
from tidings.core.statuses import Status
from tidings.gateway.credentials import new_credentials
from tidings.gateway.deliver import (
    decode_pdus,
    encode_pdus,
    mo_pdus,
    receipt_deliver_sm,
    wants_receipt,
)
from tidings.gateway.submit import (
    SubmitRefused,
    parse_smpp_time,
    parse_submit,
    send_payload,
    status_for,
)
from tidings.smpp.constants import CommandStatus, MessageState, Tag, Ton
from tidings.smpp.fields import PASSWORD_MAX, SYSTEM_ID_MAX
from tidings.smpp.pdu import SubmitSm
from tidings.smpp.receipt import receipt_from_pdu

NOW = 1_767_268_800_000  # 2026-01-01T12:00:00Z


def submit(**fields: object) -> SubmitSm:
    values: dict[str, object] = {"source_addr": "Acme", "source_addr_ton": Ton.ALPHANUMERIC,
                                 "destination_addr": "46701234567", "dest_addr_ton": Ton.INTERNATIONAL,
                                 "short_message": b"hello"}
    values.update(fields)
    return SubmitSm(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "to", "sender"),
    [
        ({}, "+46701234567", "Acme"),
        ({"dest_addr_ton": Ton.UNKNOWN}, "+46701234567", "Acme"),
        ({"destination_addr": "+46701234567", "dest_addr_ton": Ton.NATIONAL}, "+46701234567", "Acme"),
        ({"source_addr": "46700000000", "source_addr_ton": Ton.INTERNATIONAL}, "+46701234567", "+46700000000"),
        ({"source_addr": "12345", "source_addr_ton": Ton.NETWORK_SPECIFIC}, "+46701234567", "12345"),
        ({"source_addr": "", "source_addr_ton": Ton.UNKNOWN}, "+46701234567", ""),  # NULL: not known
    ],
)
def test_addresses(fields: dict[str, object], to: str, sender: str) -> None:
    parsed = parse_submit(submit(**fields), NOW)
    assert (parsed.destination, parsed.source) == (to, sender)


def test_a_null_source_addr_leaves_from_out_for_the_default_originator() -> None:
    anonymous = send_payload([parse_submit(submit(source_addr="", source_addr_ton=Ton.UNKNOWN), NOW)],
                             source_type=(Ton.UNKNOWN, 1))
    assert "from" not in anonymous and "from_ton" not in anonymous and "from_npi" not in anonymous
    named = send_payload([parse_submit(submit(), NOW)], source_type=(Ton.ALPHANUMERIC, 0))
    assert (named["from"], named["from_ton"], named["from_npi"]) == ("Acme", Ton.ALPHANUMERIC, 0)


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"destination_addr": "4670123456x"}, CommandStatus.ESME_RINVDSTADR),
        ({"dest_addr_ton": Ton.NATIONAL}, CommandStatus.ESME_RINVDSTADR),
        ({"data_coding": 0x05}, CommandStatus.ESME_RINVDCS),  # JIS: neither text we send nor 8-bit data
        ({"data_coding": 0x06}, CommandStatus.ESME_RINVDCS),
        ({"data_coding": 0x04, "short_message": b""}, CommandStatus.ESME_RINVMSGLEN),
        ({"data_coding": 0x04, "short_message": bytes(141)}, CommandStatus.ESME_RINVMSGLEN),
        ({"data_coding": 0x04, "esm_class": 0x40, "short_message": bytes((7, 5, 4, 0x15, 0x81)) + b"x"},
         CommandStatus.ESME_RINVESMCLASS),  # UDHL 7 runs past the message
        ({"data_coding": 0x04, "esm_class": 0x40, "short_message": bytes((3, 5, 4, 0x15)) + b"xy"},
         CommandStatus.ESME_RINVESMCLASS),  # the port element says 4 octets, the header holds 2
        ({"data_coding": 0x04, "tlvs": {Tag.SAR_MSG_REF_NUM: b"\x00\x01", Tag.SAR_TOTAL_SEGMENTS: b"\x02",
                                         Tag.SAR_SEGMENT_SEQNUM: b"\x01"}}, CommandStatus.ESME_RINVOPTPARAMVAL),
        ({"short_message": b""}, CommandStatus.ESME_RINVMSGLEN),
        ({"validity_period": "991399000000000+"}, CommandStatus.ESME_RINVEXPIRY),
        ({"schedule_delivery_time": "tomorrow"}, CommandStatus.ESME_RINVSCHED),
        ({"esm_class": 0x40, "short_message": bytes((5, 0, 3, 1, 2, 3)) + b"x"}, CommandStatus.ESME_RINVESMCLASS),
    ],
)
def test_refusals(fields: dict[str, object], status: int) -> None:
    with pytest.raises(SubmitRefused) as refused:
        parse_submit(submit(**fields), NOW)
    assert refused.value.status == status


@pytest.mark.parametrize(
    ("data_coding", "raw", "body", "flash"),
    [
        (0x00, bytes((0x1B, 0x65, 0x35, 0x20, 0x5B)), "€5 Ä", False),  # GSM 03.38, escape for €
        (0x01, b"plain ascii", "plain ascii", False),
        (0x03, "café".encode("latin-1"), "café", False),
        (0x08, "Привет 🚲".encode("utf-16-be"), "Привет 🚲", False),
        (0x10, b"flash", "flash", True),
        (0x18, "Ωμέγα".encode("utf-16-be"), "Ωμέγα", True),
    ],
)
def test_data_codings(data_coding: int, raw: bytes, body: str, flash: bool) -> None:
    payload = send_payload([parse_submit(submit(data_coding=data_coding, short_message=raw), NOW)])
    assert payload["body"] == body
    assert payload.get("flash_message", False) is flash
    assert payload["to"] == ["+46701234567"] and payload["delivery_report"] == "none"


@pytest.mark.parametrize(
    ("data_coding", "esm_class", "raw", "udh", "body"),
    [
        (0x04, 0x00, b"\x00\x01\xfe\xff", "", "AAH+/w=="),
        (0x02, 0x00, b"\x80", "", "gA=="),
        (0xF5, 0x40, bytes.fromhex("06050415811581") + b"\x01\x02", "06050415811581", "AQI="),
        # A part of a longer binary message goes as it came, concatenation element and all.
        (0x04, 0x40, bytes.fromhex("0b0504158115810003020201") + b"\x03", "0b0504158115810003020201", "Aw=="),
    ],
)
def test_eight_bit_data_becomes_a_binary_batch_as_it_came(
        data_coding: int, esm_class: int, raw: bytes, udh: str, body: str) -> None:
    part = parse_submit(submit(data_coding=data_coding, esm_class=esm_class, short_message=raw), NOW)
    assert part.binary and not part.concatenated
    payload = send_payload([part])
    assert (payload["type"], payload["udh"], payload["body"]) == ("mt_binary", udh, body)
    assert "flash_message" not in payload and payload["to"] == ["+46701234567"]


def test_message_payload_tlv_carries_the_text_when_short_message_is_empty() -> None:
    pdu = submit(short_message=b"", tlvs={Tag.MESSAGE_PAYLOAD: b"a longer text in the message payload"})
    assert send_payload([parse_submit(pdu, NOW)])["body"] == "a longer text in the message payload"


def test_smpp_times() -> None:
    assert parse_smpp_time("", NOW, status=1) is None
    assert parse_smpp_time("260101120000000+", NOW, status=1) == NOW
    assert parse_smpp_time("260101140000008+", NOW, status=1) == NOW  # 14:00 at UTC+2
    assert parse_smpp_time("260101100000008-", NOW, status=1) == NOW  # 10:00 at UTC-2
    assert parse_smpp_time("000000013000000R", NOW, status=1) == NOW + 90 * 60 * 1000
    payload = send_payload([parse_submit(submit(validity_period="000001000000000R",
                                                schedule_delivery_time="000000001000000R"), NOW)])
    assert payload["expire_at"] == "2026-01-02T12:00:00+00:00"
    assert payload["send_at"] == "2026-01-01T12:10:00+00:00"


def test_send_action_refusals_map_to_smpp_statuses() -> None:
    def error(field: str) -> RequestError:
        return RequestError("syntax_constraint_violation", "x", 400, {field: "x"})

    assert status_for(error("to[0]")) == CommandStatus.ESME_RINVDSTADR
    assert status_for(error("from")) == CommandStatus.ESME_RINVSRCADR
    assert status_for(error("from_ton")) == CommandStatus.ESME_RINVSRCTON
    assert status_for(error("from_npi")) == CommandStatus.ESME_RINVSRCNPI
    assert status_for(error("body")) == CommandStatus.ESME_RINVMSGLEN
    assert status_for(error("expire_at")) == CommandStatus.ESME_RINVEXPIRY
    assert status_for(RequestError("x", "x", 400)) == CommandStatus.ESME_RSUBMITFAIL


def test_parts_are_joined_before_decoding_across_a_split_surrogate_pair() -> None:
    text = "🚲" * 40  # 80 UTF-16 code units: a surrogate pair straddles the parts
    raw = text.encode("utf-16-be")
    first, second = raw[:134], raw[134:]
    assert len(first) % 4 == 2  # the cut is inside a pair
    parts = [
        parse_submit(submit(esm_class=0x40, data_coding=0x08, short_message=bytes((5, 0, 3, 9, 2, seq)) + chunk), NOW)
        for seq, chunk in ((1, first), (2, second))
    ]
    assert [p.udh.sequence for p in parts if p.udh] == [1, 2]
    assert send_payload(parts)["body"] == text


@pytest.mark.parametrize(
    ("mode", "delivered", "failed"),
    [(0, False, False), (1, True, True), (2, False, True), (3, True, False), (0x11, True, True)],
)
def test_receipt_modes(mode: int, delivered: bool, failed: bool) -> None:
    assert wants_receipt(mode, Status.DELIVERED) is delivered
    assert wants_receipt(mode, Status.FAILED) is failed


def _theirs(pdu: object) -> object:
    return smpplib.smpp.parse_pdu(pdu.encode(), client=smpplib.client.SimpleSequenceGenerator(),  # type: ignore[attr-defined]
                                  allow_unknown_opt_params=True)


def test_receipt_deliver_sm_reads_back_in_smpplib_and_in_our_codec() -> None:
    batch = SimpleNamespace(batch_id="01JBATCH", submitted_ms=NOW, text_head="Your table is ready",
                            destination_addr="46701234567", dest_addr_ton=1, dest_addr_npi=1,
                            source_addr="Bistro", source_addr_ton=5, source_addr_npi=0)
    pdu = receipt_deliver_sm(batch, Status.FAILED, 27, NOW + 60_000)
    [again] = decode_pdus(encode_pdus([pdu]))
    receipt = receipt_from_pdu(again)
    assert receipt is not None
    assert (receipt.message_id, receipt.message_state, receipt.error) == ("01JBATCH", MessageState.UNDELIVERABLE, "027")
    assert receipt.text == "Your table is ready"
    theirs = _theirs(pdu)
    assert theirs.receipted_message_id in (b"01JBATCH", "01JBATCH")  # type: ignore[attr-defined]
    assert int(theirs.esm_class) == 0x04  # type: ignore[attr-defined]
    assert theirs.destination_addr == b"Bistro"  # type: ignore[attr-defined]


def test_long_mo_is_segmented_with_a_udh_and_round_trips() -> None:
    body = "Ja tack, vi ses på tisdag klockan tio! 🚲 " * 3
    pdus = decode_pdus(encode_pdus(mo_pdus("+46701234567", "+46700000000", body, 7)))
    expected = segment(body, reference=7)
    assert [p.short_message for p in pdus] == expected.parts
    assert {(p.source_addr, p.source_addr_ton, p.destination_addr) for p in pdus} == {("46701234567", 1, "46700000000")}
    short = mo_pdus("+46701234567", "12345", "STOP", 1)
    assert [(p.destination_addr, p.dest_addr_ton, p.esm_class) for p in short] == [("12345", Ton.NETWORK_SPECIFIC, 0)]


def test_new_credentials_fit_smpp_fields_and_differ() -> None:
    made = {new_credentials() for _ in range(50)}
    assert len({c.system_id for c in made}) == 50
    for creds in made:
        assert len(creds.system_id) <= SYSTEM_ID_MAX and len(creds.password) == PASSWORD_MAX
        assert creds.system_id.isascii() and creds.password.isalnum()


def test_allowed_networks() -> None:
    from tidings.gateway.guard import allowed, parse_networks

    assert allowed(None, "198.51.100.1") and allowed("", None)  # no list: anywhere
    networks = "203.0.113.0/24, 198.51.100.7 2001:db8::/32"
    assert [str(n) for n in parse_networks(networks)] == ["203.0.113.0/24", "198.51.100.7/32", "2001:db8::/32"]
    assert allowed(networks, "203.0.113.200") and allowed(networks, "198.51.100.7")
    assert allowed(networks, "::ffff:203.0.113.9")  # an IPv4 peer on a dual-stack socket
    assert allowed(networks, "2001:db8::1")
    assert not allowed(networks, "198.51.100.8") and not allowed(networks, "127.0.0.1")
    assert not allowed(networks, None) and not allowed(networks, "not-an-address")
    with pytest.raises(ValueError):
        parse_networks("203.0.113.0/24 nonsense")
