from __future__ import annotations

import struct

import pytest

from tidings.smpp import (
    HEADER_SIZE,
    MAX_SHORT_MESSAGE,
    PDU_CLASSES,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CancelSm,
    CancelSmResp,
    CommandId,
    CommandStatus,
    DataCoding,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    EsmClass,
    GenericNack,
    MessageState,
    Npi,
    Pdu,
    PduError,
    QuerySm,
    QuerySmResp,
    ReplaceSm,
    ReplaceSmResp,
    SubmitSm,
    SubmitSmResp,
    Tag,
    Ton,
    Unbind,
    UnbindResp,
    decode,
    error_response,
)

S = CommandStatus
HEADER = struct.Struct(">IIII")


def frame(command_id: int, body: bytes = b"", *, sequence: int = 1, status: int = 0, length: int | None = None) -> bytes:
    size = HEADER_SIZE + len(body) if length is None else length
    return HEADER.pack(size, command_id, status, sequence) + body


SAMPLES: list[Pdu] = [
    GenericNack(sequence_number=9, command_status=S.ESME_RINVCMDID),
    BindTransmitter(sequence_number=1, system_id="esme", password="pw", system_type="VMA", addr_ton=1, addr_npi=1, address_range="^467"),
    BindReceiver(sequence_number=2, system_id="rx", password="12345678"),
    BindTransceiver(sequence_number=3, system_id="x" * 15, password="p", interface_version=0x33),
    BindTransmitterResp(sequence_number=1, system_id="SMSC", tlvs={Tag.SC_INTERFACE_VERSION: 0x34}),
    BindReceiverResp(sequence_number=2, system_id="SMSC"),
    BindTransceiverResp(sequence_number=3, command_status=S.ESME_RINVPASWD),
    Unbind(sequence_number=4),
    UnbindResp(sequence_number=4),
    EnquireLink(sequence_number=0x7FFFFFFF),
    EnquireLinkResp(sequence_number=0x7FFFFFFF),
    SubmitSm(
        sequence_number=10,
        service_type="CMT",
        source_addr_ton=Ton.ALPHANUMERIC,
        source_addr="Tidings",
        dest_addr_ton=Ton.INTERNATIONAL,
        dest_addr_npi=Npi.ISDN,
        destination_addr="46701234567",
        esm_class=EsmClass.UDHI,
        protocol_id=0,
        priority_flag=1,
        schedule_delivery_time="240101120000000+",
        validity_period="000001000000000R",
        registered_delivery=1,
        data_coding=DataCoding.UCS2,
        short_message=b"\x05\x00\x03\x2a\x02\x01" + "hej då".encode("utf-16-be"),
        tlvs={Tag.USER_MESSAGE_REFERENCE: 77},
    ),
    SubmitSmResp(sequence_number=10, message_id="0badc0de"),
    DeliverSm(
        sequence_number=11,
        source_addr="46701234567",
        destination_addr="Tidings",
        esm_class=EsmClass.DELIVERY_RECEIPT,
        short_message=b"id:0badc0de stat:DELIVRD err:000",
        tlvs={Tag.RECEIPTED_MESSAGE_ID: "0badc0de", Tag.MESSAGE_STATE: MessageState.DELIVERED},
    ),
    DeliverSmResp(sequence_number=11),
    DataSm(sequence_number=12, source_addr="1" * 64, destination_addr="2", data_coding=4, tlvs={Tag.MESSAGE_PAYLOAD: b"\x00" * 300}),
    DataSmResp(sequence_number=12, message_id="d1"),
    QuerySm(sequence_number=13, message_id="0badc0de", source_addr_ton=5, source_addr="Tidings"),
    QuerySmResp(sequence_number=13, message_id="0badc0de", final_date="240101120000000+", message_state=2, error_code=0),
    CancelSm(sequence_number=14, service_type="CMT", message_id="0badc0de", source_addr_ton=5, source_addr="Tidings",
             dest_addr_ton=1, dest_addr_npi=1, destination_addr="46701234567"),
    CancelSmResp(sequence_number=14),
    ReplaceSm(sequence_number=15, message_id="0badc0de", source_addr_ton=5, source_addr="Tidings",
              schedule_delivery_time="000000010000000R", validity_period="", registered_delivery=1,
              short_message=b"new text"),
    ReplaceSmResp(sequence_number=15, command_status=S.ESME_RREPLACEFAIL),
]


def test_samples_cover_every_pdu_class() -> None:
    assert {type(pdu) for pdu in SAMPLES} == set(PDU_CLASSES.values())


@pytest.mark.parametrize("pdu", SAMPLES, ids=lambda pdu: type(pdu).__name__)
def test_round_trip(pdu: Pdu) -> None:
    data = pdu.encode()
    assert HEADER.unpack_from(data)[:2] == (len(data), pdu.command_id)
    decoded = decode(data)
    assert type(decoded) is type(pdu)
    assert decoded == pdu
    assert decoded.encode() == data


def test_known_bytes_of_enquire_link_and_submit_sm() -> None:
    assert EnquireLink(sequence_number=1).encode() == bytes.fromhex("00000010" "00000015" "00000000" "00000001")
    submit = SubmitSm(sequence_number=2, source_addr="A", destination_addr="1", short_message=b"hi")
    assert submit.encode().hex() == (
        "00000025" "00000004" "00000000" "00000002"  # header, 37 octets
        "00" "0000" "4100" "0000" "3100"  # service_type, source ton/npi/addr, dest ton/npi/addr
        "000000" "00" "00"  # esm_class, protocol_id, priority_flag, schedule, validity
        "0000000002" "6869"  # registered_delivery .. sm_length, short_message
    )


def test_error_responses_leave_out_the_body() -> None:
    data = SubmitSmResp(sequence_number=5, command_status=S.ESME_RTHROTTLED).encode()
    assert len(data) == HEADER_SIZE
    assert decode(data) == SubmitSmResp(sequence_number=5, command_status=S.ESME_RTHROTTLED)


def test_response_keeps_the_sequence_number() -> None:
    response = SubmitSm(sequence_number=42).response(S.ESME_RMSGQFUL)
    assert isinstance(response, SubmitSmResp)
    assert (response.sequence_number, response.command_status) == (42, S.ESME_RMSGQFUL)
    with pytest.raises(TypeError):
        SubmitSmResp().response()


def test_short_message_limit() -> None:
    assert decode(SubmitSm(short_message=b"x" * MAX_SHORT_MESSAGE).encode()).short_message == b"x" * 254  # type: ignore[attr-defined]
    with pytest.raises(PduError) as caught:
        SubmitSm(short_message=b"x" * (MAX_SHORT_MESSAGE + 1)).encode()
    assert caught.value.command_status == S.ESME_RINVMSGLEN


@pytest.mark.parametrize(
    ("pdu", "status"),
    [
        (SubmitSm(source_addr="1" * 21), S.ESME_RINVSRCADR),
        (SubmitSm(destination_addr="1" * 21), S.ESME_RINVDSTADR),
        (SubmitSm(service_type="TOOLONG"), S.ESME_RINVSERTYP),
        (SubmitSm(validity_period="1" * 17), S.ESME_RINVEXPIRY),
        (BindTransmitter(system_id="s" * 16), S.ESME_RINVSYSID),
        (BindTransmitter(password="p" * 9), S.ESME_RINVPASWD),
        (SubmitSmResp(message_id="m" * 65), S.ESME_RINVMSGID),
        (SubmitSm(source_addr="ünïcødé ☃"), S.ESME_RINVSRCADR),
        (SubmitSm(source_addr="a\0b"), S.ESME_RINVSRCADR),
    ],
)
def test_encoding_checks_c_string_limits(pdu: Pdu, status: int) -> None:
    with pytest.raises(PduError) as caught:
        pdu.encode()
    assert caught.value.command_status == status


def test_integer_out_of_range_is_a_pdu_error() -> None:
    with pytest.raises(PduError):
        SubmitSm(esm_class=256).encode()
    with pytest.raises(PduError):
        SubmitSm(tlvs={Tag.SAR_TOTAL_SEGMENTS: 300}).encode()
    with pytest.raises(PduError):
        SubmitSm(tlvs={Tag.MESSAGE_STATE: "delivered"}).encode()


def test_latin1_strings_round_trip_every_octet() -> None:
    pdu = SubmitSm(source_addr="Café\xff")
    assert decode(pdu.encode()) == pdu


def submit_body(source_addr: bytes = b"A", sm_length: int = 2, message: bytes = b"hi") -> bytes:
    return b"\0" + b"\0\0" + source_addr + b"\0" + b"\0\0" + b"1\0" + b"\0\0\0" + b"\0\0" + b"\0\0\0\0" + bytes([sm_length]) + message


def test_cancel_sm_and_replace_sm_bodies_in_the_order_of_smpp_3_4() -> None:
    """SMPP 3.4 4.9.1 and 4.10.1, field by field, built by hand."""
    cancel = (b"\0" + b"B1\0" + b"\x05\x00" + b"Acme\0" + b"\x01\x01" + b"46701234567\0")
    pdu = decode(frame(CommandId.CANCEL_SM, cancel, sequence=7))
    assert isinstance(pdu, CancelSm)
    assert (pdu.service_type, pdu.message_id, pdu.source_addr_ton, pdu.source_addr, pdu.dest_addr_ton,
            pdu.dest_addr_npi, pdu.destination_addr) == ("", "B1", 5, "Acme", 1, 1, "46701234567")
    assert pdu.encode() == frame(CommandId.CANCEL_SM, cancel, sequence=7)
    replace = (b"B1\0" + b"\x05\x00" + b"Acme\0" + b"\0" + b"000001000000000R\0" + b"\x02" + b"\x00" + b"\x03"
               + b"new")
    pdu = decode(frame(CommandId.REPLACE_SM, replace, sequence=8))
    assert isinstance(pdu, ReplaceSm)
    assert (pdu.message_id, pdu.source_addr, pdu.schedule_delivery_time, pdu.validity_period,
            pdu.registered_delivery, pdu.sm_default_msg_id, pdu.short_message) == (
        "B1", "Acme", "", "000001000000000R", 2, 0, b"new")
    assert pdu.encode() == frame(CommandId.REPLACE_SM, replace, sequence=8)
    assert decode(frame(CommandId.CANCEL_SM_RESP, sequence=7)) == CancelSmResp(sequence_number=7)
    with pytest.raises(PduError) as caught:
        decode(frame(CommandId.REPLACE_SM, replace[:-1]))
    assert caught.value.command_status == S.ESME_RINVMSGLEN


def test_hand_built_body_decodes() -> None:
    pdu = decode(frame(CommandId.SUBMIT_SM, submit_body()))
    assert isinstance(pdu, SubmitSm)
    assert (pdu.source_addr, pdu.destination_addr, pdu.short_message) == ("A", "1", b"hi")


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"\0\0\0\x10\0\0\0\x15", S.ESME_RINVCMDLEN),
        (frame(CommandId.ENQUIRE_LINK, length=17), S.ESME_RINVCMDLEN),
        (frame(0x00000999), S.ESME_RINVCMDID),
        (frame(CommandId.SUBMIT_SM, submit_body()[:5]), S.ESME_RINVCMDLEN),
        (frame(CommandId.SUBMIT_SM, submit_body()[:-1]), S.ESME_RINVMSGLEN),
        (frame(CommandId.SUBMIT_SM, submit_body(sm_length=255)), S.ESME_RINVMSGLEN),
        (frame(CommandId.SUBMIT_SM, submit_body(source_addr=b"9" * 30)), S.ESME_RINVSRCADR),
        (frame(CommandId.BIND_TRANSMITTER, b"esme\0" + b"p" * 12 + b"\0\0\x34\0\0\0"), S.ESME_RINVPASWD),
        (frame(CommandId.SUBMIT_SM, submit_body() + b"\x02\x04\x00"), S.ESME_RINVOPTPARSTREAM),
        (frame(CommandId.SUBMIT_SM, submit_body() + b"\x02\x04\x00\x09\x00"), S.ESME_RINVOPTPARSTREAM),
    ],
    ids=[
        "short-header",
        "length-mismatch",
        "unknown-command",
        "truncated-body",
        "sm-length-past-end",
        "sm-length-255",
        "source-addr-too-long",
        "password-too-long",
        "truncated-tlv-header",
        "tlv-past-end",
    ],
)
def test_malformed_pdus_carry_the_status_to_answer(data: bytes, status: int) -> None:
    with pytest.raises(PduError) as caught:
        decode(data)
    assert caught.value.command_status == status
    if len(data) >= HEADER_SIZE:
        assert caught.value.sequence_number == 1


def test_error_response_answers_the_offending_request() -> None:
    with pytest.raises(PduError) as bad_field:
        decode(frame(CommandId.SUBMIT_SM, submit_body(source_addr=b"9" * 30), sequence=77))
    response = error_response(bad_field.value)
    assert isinstance(response, SubmitSmResp)
    assert (response.sequence_number, response.command_status) == (77, S.ESME_RINVSRCADR)

    with pytest.raises(PduError) as unknown:
        decode(frame(0x00000999, sequence=78))
    nack = error_response(unknown.value)
    assert isinstance(nack, GenericNack)
    assert (nack.sequence_number, nack.command_status) == (78, S.ESME_RINVCMDID)

    with pytest.raises(PduError) as truncated:
        decode(frame(CommandId.SUBMIT_SM, submit_body()[:5], sequence=79))
    assert isinstance(error_response(truncated.value), GenericNack)


def test_tlvs_typed_when_known_and_raw_when_not() -> None:
    tlvs = (
        struct.pack(">HHH", Tag.USER_MESSAGE_REFERENCE, 2, 513)
        + struct.pack(">HH", Tag.RECEIPTED_MESSAGE_ID, 4) + b"abc\0"
        + struct.pack(">HH", 0x1401, 3) + b"\x01\x02\x03"  # vendor-specific
        + struct.pack(">HH", Tag.MESSAGE_STATE, 2) + b"\x00\x02"  # wrong width: kept raw
        + struct.pack(">HH", Tag.ALERT_ON_MESSAGE_DELIVERY, 0)
    )
    data = frame(CommandId.SUBMIT_SM, submit_body() + tlvs)
    pdu = decode(data)
    assert pdu.tlvs == {
        Tag.USER_MESSAGE_REFERENCE: 513,
        Tag.RECEIPTED_MESSAGE_ID: "abc",
        0x1401: b"\x01\x02\x03",
        Tag.MESSAGE_STATE: b"\x00\x02",
        Tag.ALERT_ON_MESSAGE_DELIVERY: b"",
    }
    assert pdu.encode() == data
    assert pdu.tlv_int(Tag.MESSAGE_STATE) == MessageState.DELIVERED
    assert pdu.tlv_str(Tag.RECEIPTED_MESSAGE_ID) == "abc"
    assert pdu.tlv_bytes(Tag.RECEIPTED_MESSAGE_ID) == b"abc"
    assert pdu.tlv_int(Tag.SAR_MSG_REF_NUM) is None


def test_text_tlv_without_nul_is_accepted() -> None:
    tlv = struct.pack(">HH", Tag.RECEIPTED_MESSAGE_ID, 3) + b"abc"
    pdu = decode(frame(CommandId.DELIVER_SM, submit_body() + tlv))
    assert pdu.tlv_str(Tag.RECEIPTED_MESSAGE_ID) == "abc"


def test_typed_decode_rejects_another_command() -> None:
    assert SubmitSm.decode(SubmitSm().encode()) == SubmitSm()
    with pytest.raises(PduError) as caught:
        SubmitSm.decode(DeliverSm().encode())
    assert caught.value.command_status == S.ESME_RINVCMDID


def test_command_names() -> None:
    assert SubmitSm().command_name == "submit_sm"
    assert SubmitSmResp().is_response and not SubmitSm().is_response
