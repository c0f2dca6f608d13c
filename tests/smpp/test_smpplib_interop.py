"""Interoperability with the third-party smpplib: its bytes decode here, ours decode there, and its
blocking client binds to our server, submits, and answers a deliver_sm."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import smpplib.client
import smpplib.exceptions
import smpplib.smpp

from tidings.smpp import (
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    CommandStatus,
    DeliverSm,
    DeliveryReceipt,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    MessageState,
    Pdu,
    SmppServer,
    SubmitSm,
    SubmitSmResp,
    Tag,
    Unbind,
    UnbindResp,
    decode,
    receipt_pdu,
)
from tidings.smpp.testing import RecordingHandler


def their_pdu(name: str, sequence: int, **fields: Any) -> Any:
    pdu = smpplib.smpp.make_pdu(name, sequence=sequence, **fields)
    pdu.sequence = sequence
    return pdu


def parse_ours(pdu: Pdu) -> Any:
    return smpplib.smpp.parse_pdu(
        pdu.encode(), client=smpplib.client.SimpleSequenceGenerator(), allow_unknown_opt_params=True
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("enquire_link", EnquireLink(sequence_number=3)),
        ("enquire_link_resp", EnquireLinkResp(sequence_number=3)),
        ("unbind", Unbind(sequence_number=3)),
        ("unbind_resp", UnbindResp(sequence_number=3)),
        ("generic_nack", GenericNack(sequence_number=3)),
    ],
)
def test_their_header_only_pdus_decode(name: str, expected: Pdu) -> None:
    assert decode(their_pdu(name, 3).generate()) == expected


def test_their_bind_decodes() -> None:
    data = their_pdu(
        "bind_transceiver", 1, system_id="esme", password="pw", system_type="VMA", interface_version=0x34, address_range=""
    ).generate()
    assert decode(data) == BindTransceiver(sequence_number=1, system_id="esme", password="pw", system_type="VMA")


def test_their_submit_sm_decodes_with_tlvs() -> None:
    data = their_pdu(
        "submit_sm",
        5,
        source_addr_ton=5,
        source_addr="Tidings",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="46701234567",
        registered_delivery=1,
        data_coding=8,
        short_message="hej".encode("utf-16-be"),
        user_message_reference=42,
        sar_msg_ref_num=7,
        sar_total_segments=2,
        sar_segment_seqnum=1,
    ).generate()
    pdu = decode(data)
    assert isinstance(pdu, SubmitSm)
    assert (pdu.sequence_number, pdu.source_addr, pdu.source_addr_ton, pdu.destination_addr) == (5, "Tidings", 5, "46701234567")
    assert (pdu.registered_delivery, pdu.data_coding, pdu.short_message) == (1, 8, "hej".encode("utf-16-be"))
    assert pdu.tlvs == {
        Tag.USER_MESSAGE_REFERENCE: 42,
        Tag.SAR_MSG_REF_NUM: 7,
        Tag.SAR_TOTAL_SEGMENTS: 2,
        Tag.SAR_SEGMENT_SEQNUM: 1,
    }
    assert pdu.encode() == data


def test_their_receipt_deliver_sm_decodes() -> None:
    data = their_pdu(
        "deliver_sm",
        7,
        source_addr="467",
        destination_addr="T",
        esm_class=4,
        short_message=b"id:1 stat:DELIVRD",
        receipted_message_id="abc1",
        message_state=2,
    ).generate()
    pdu = decode(data)
    assert isinstance(pdu, DeliverSm)
    assert pdu.tlv_str(Tag.RECEIPTED_MESSAGE_ID) == "abc1"
    assert pdu.tlv_int(Tag.MESSAGE_STATE) == MessageState.DELIVERED


def test_their_submit_sm_resp_decodes() -> None:
    assert decode(their_pdu("submit_sm_resp", 3, message_id="abc").generate()) == SubmitSmResp(sequence_number=3, message_id="abc")


def test_they_decode_our_submit_sm() -> None:
    theirs = parse_ours(
        SubmitSm(sequence_number=9, source_addr="T", destination_addr="467", short_message=b"hey", tlvs={Tag.USER_MESSAGE_REFERENCE: 3})
    )
    assert (theirs.command, theirs.sequence, theirs.source_addr, theirs.destination_addr) == ("submit_sm", 9, b"T", b"467")
    assert (theirs.short_message, theirs.user_message_reference) == (b"hey", 3)


def test_they_decode_our_receipt() -> None:
    receipt = DeliveryReceipt(message_id="m1", message_state=MessageState.DELIVERED, network_error=(3, 17))
    pdu = receipt_pdu(receipt, source_addr="467", destination_addr="T")
    pdu.sequence_number = 4
    theirs = parse_ours(pdu)
    assert (theirs.command, theirs.sequence, theirs.esm_class) == ("deliver_sm", 4, 4)
    assert (theirs.receipted_message_id, theirs.message_state) == (b"m1", MessageState.DELIVERED)
    assert theirs.network_error_code == b"\x03\x00\x11"
    assert theirs.short_message.startswith(b"id:m1 ")


def test_they_decode_our_responses_and_binds() -> None:
    bind_resp = parse_ours(BindTransceiverResp(sequence_number=1, system_id="SMSC", tlvs={Tag.SC_INTERFACE_VERSION: 0x34}))
    assert (bind_resp.command, bind_resp.system_id, bind_resp.sc_interface_version) == ("bind_transceiver_resp", b"SMSC", 0x34)
    nack = parse_ours(GenericNack(sequence_number=1, command_status=CommandStatus.ESME_RINVCMDID))
    assert (nack.command, nack.status) == ("generic_nack", CommandStatus.ESME_RINVCMDID)
    bind = parse_ours(BindTransmitter(sequence_number=6, system_id="a", password="b"))
    assert (bind.command, bind.sequence, bind.system_id, bind.password) == ("bind_transmitter", 6, b"a", b"b")


def _their_client_session(port: int, password: str) -> dict[str, Any]:
    """Runs in a thread: smpplib is blocking."""
    client = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
    seen: dict[str, Any] = {}

    def received(pdu: Any) -> int:
        seen["deliver"] = pdu.receipted_message_id
        return int(CommandStatus.ESME_ROK)

    client.set_message_sent_handler(lambda pdu: seen.setdefault("submit_resp", (pdu.status, pdu.message_id)))
    client.set_message_received_handler(received)
    client.connect()
    try:
        bind = client.bind_transceiver(system_id="tidings", password=password)
        seen["bind"] = (bind.status, bind.system_id)
        client.send_message(source_addr="Tidings", destination_addr="46701234567", short_message=b"hello from smpplib")
        client.read_once()
        client.read_once()
        client.unbind()
    finally:
        client.disconnect()
    return seen


async def test_smpplib_client_binds_submits_and_receives(handler: RecordingHandler, server: SmppServer) -> None:
    their_side = asyncio.create_task(asyncio.to_thread(_their_client_session, server.port, "secret"))
    async with asyncio.timeout(10):
        while not handler.submitted:
            await asyncio.sleep(0.01)
        (session,) = server.sessions
        receipt = DeliveryReceipt(message_id="msg00000001", message_state=MessageState.DELIVERED)
        response = await session.deliver(receipt_pdu(receipt, source_addr="46701234567", destination_addr="Tidings"))
        seen = await their_side
    assert response.command_status == CommandStatus.ESME_ROK
    assert seen["bind"] == (CommandStatus.ESME_ROK, b"TIDINGS")
    assert seen["submit_resp"] == (CommandStatus.ESME_ROK, b"msg00000001")
    assert seen["deliver"] == b"msg00000001"
    assert handler.submitted[0].short_message == b"hello from smpplib"
    assert handler.submitted[0].destination_addr == "46701234567"
    assert handler.unbinds == 1


async def test_smpplib_client_with_wrong_password_is_refused(server: SmppServer) -> None:
    with pytest.raises(smpplib.exceptions.PDUError) as caught:
        await asyncio.to_thread(_their_client_session, server.port, "wrong")
    assert caught.value.args[1] == CommandStatus.ESME_RINVPASWD
