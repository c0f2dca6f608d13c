"""The sandbox SMSC driven by the third-party smpplib client (blocking, so in a thread)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm

from tidings.core.encoding import decode, split_udh
from tidings.sandbox import Sandbox
from tidings.smpp import CommandStatus

from .conftest import PASSWORD, SYSTEM_ID

HANDSET = "+46709876543"


def smpplib_session(port: int, password: str, texts: list[str], expected_deliveries: int) -> dict[str, Any]:
    """Bind, submit each text (split by smpplib itself), then read until every submit_sm_resp and
    `expected_deliveries` deliver_sm have arrived."""
    client = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
    seen: dict[str, Any] = {"submit": [], "deliver": []}

    def received(pdu: Any) -> int:
        seen["deliver"].append({
            "receipted_message_id": pdu.receipted_message_id,
            "message_state": pdu.message_state,
            "esm_class": pdu.esm_class,
            "data_coding": pdu.data_coding,
            "source_addr": pdu.source_addr,
            "destination_addr": pdu.destination_addr,
            "short_message": pdu.short_message,
        })
        return int(CommandStatus.ESME_ROK)

    client.set_message_sent_handler(lambda pdu: seen["submit"].append((pdu.status, pdu.message_id)))
    client.set_message_received_handler(received)
    client.connect()
    try:
        client.bind_transceiver(system_id=SYSTEM_ID, password=password)
        parts_sent = 0
        for text in texts:
            parts, encoding, esm_class = smpplib.gsm.make_parts(text)
            for part in parts:
                client.send_message(
                    source_addr_ton=smpplib.consts.SMPP_TON_ALNUM, source_addr="Interop",
                    dest_addr_ton=smpplib.consts.SMPP_TON_INTL, dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
                    destination_addr=HANDSET[1:], short_message=part, data_coding=encoding,
                    esm_class=esm_class, registered_delivery=1,
                )
                parts_sent += 1
        while len(seen["submit"]) < parts_sent or len(seen["deliver"]) < expected_deliveries:
            client.read_once()
        client.unbind()
    finally:
        client.disconnect()
    return seen


async def test_smpplib_submits_and_gets_receipts_and_queued_mo(sandbox: Sandbox) -> None:
    await sandbox.send_mo(HANDSET, "Interop", "Hej från mobilen 😀")  # queued: nobody bound yet
    texts = ["Hello from smpplib", "Long message with an escape [x] " * 8, "Юникод " * 30]
    seen = await asyncio.to_thread(smpplib_session, sandbox.port, PASSWORD, texts, 1 + 1 + 2 + 4)
    assert all(status == CommandStatus.ESME_ROK for status, _ in seen["submit"])
    assert len(seen["submit"]) == 7

    received = await sandbox.wait_for_messages(HANDSET, 3)
    assert [m.body for m in received] == texts
    assert [m.segments for m in received] == [1, 2, 4]
    assert [m.encoding for m in received] == ["GSM", "GSM", "UCS2"]

    mo = [d for d in seen["deliver"] if d["receipted_message_id"] is None]
    receipts = [d for d in seen["deliver"] if d["receipted_message_id"] is not None]
    assert len(mo) == 1
    assert (mo[0]["source_addr"], mo[0]["destination_addr"]) == (HANDSET[1:].encode(), b"Interop")
    assert decode(mo[0]["short_message"], mo[0]["data_coding"]) == "Hej från mobilen 😀"
    submitted_ids = sorted(message_id for _, message_id in seen["submit"])
    assert sorted(r["receipted_message_id"] for r in receipts) == submitted_ids
    assert all(r["message_state"] == smpplib.consts.SMPP_MESSAGE_STATE_DELIVERED for r in receipts)
    assert all(r["esm_class"] == 0x04 for r in receipts)
    assert all(b"stat:DELIVRD" in r["short_message"] for r in receipts)


async def test_smpplib_long_unicode_mo(sandbox: Sandbox) -> None:
    text = "Длинное сообщение с эмодзи 🎉 " * 5
    await sandbox.send_mo(HANDSET, "+46700000000", text)
    seen = await asyncio.to_thread(smpplib_session, sandbox.port, PASSWORD, [], 3)
    pieces = {}
    for pdu in seen["deliver"]:
        udh, payload = split_udh(pdu["short_message"], pdu["esm_class"])
        assert udh is not None and pdu["data_coding"] == smpplib.consts.SMPP_ENCODING_ISO10646
        pieces[udh.sequence] = payload
    assert decode(b"".join(pieces[n] for n in sorted(pieces)), 0x08) == text


async def test_smpplib_wrong_password_refused(sandbox: Sandbox) -> None:
    with pytest.raises(smpplib.exceptions.PDUError) as caught:
        await asyncio.to_thread(smpplib_session, sandbox.port, "wrong", [], 0)
    assert caught.value.args[1] == CommandStatus.ESME_RINVPASWD
