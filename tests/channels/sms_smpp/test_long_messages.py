"""Long messages to SMSCs that want them in different shapes: concatenation UDH (the default),
SAR TLVs, or the whole text in message_payload. Each reaches a sandbox handset intact over real
SMPP, with a receipt per message id the SMSC gave."""

from __future__ import annotations

import pytest

from tidings.channels.base import OutboundSms
from tidings.channels.sms_smpp.connector import SmppConnector
from tidings.channels.sms_smpp.transcode import submit_pdus
from tidings.config import SmppConnectionSettings, parse_smpp_connections
from tidings.core.encoding import decode
from tidings.runtime.context import now_ms
from tidings.sandbox.world import Sandbox
from tidings.smpp.constants import EsmClass, Tag
from tidings.smpp.sar import sar_numbering
from tidings.workers.writer import OutcomeWriter

from .conftest import sandbox_connection

GSM_LONG = "Your order {A-17} ships today; track it at the link we sent [ref ~42] and reply STOP to opt out. " * 4
UCS2_LONG = "Paket 📦 skickat! Följ det här: 🚚 — vi hörs 😊 " * 4


def sms(body: str, recipient: str = "+46701112233") -> OutboundSms:
    return OutboundSms(1, "+46700000000", recipient, body)


@pytest.mark.parametrize("body", [GSM_LONG, UCS2_LONG])
def test_sar_parts_are_the_udh_parts_without_their_header(body: str) -> None:
    udh = submit_pdus(sms(body), 0x2A, "udh")
    sar = submit_pdus(sms(body), 0x2A, "sar")
    assert len(udh) == len(sar) > 2
    for n, (with_udh, with_sar) in enumerate(zip(udh, sar, strict=True), 1):
        assert with_udh.esm_class == EsmClass.UDHI and with_sar.esm_class == EsmClass.DEFAULT
        assert with_udh.short_message == bytes((5, 0, 3, 0x2A, len(udh), n)) + with_sar.short_message
        assert sar_numbering(with_sar) == (0x2A, len(sar), n)
    joined = b"".join(p.short_message for p in sar)
    assert decode(joined, sar[0].data_coding) == body


@pytest.mark.parametrize("body", [GSM_LONG, UCS2_LONG])
def test_payload_mode_sends_the_whole_text_in_one_pdu(body: str) -> None:
    [pdu] = submit_pdus(sms(body), 7, "payload")
    assert pdu.short_message == b"" and pdu.esm_class == EsmClass.DEFAULT
    assert decode(pdu.tlv_bytes(Tag.MESSAGE_PAYLOAD) or b"", pdu.data_coding) == body


def test_a_short_message_is_one_plain_part_in_every_mode() -> None:
    for mode in ("udh", "sar", "payload"):
        [pdu] = submit_pdus(sms("hi"), 7, mode)
        assert (pdu.short_message, pdu.esm_class, pdu.tlvs) == (b"hi", EsmClass.DEFAULT, {})


def test_the_mode_is_checked_when_connections_are_read() -> None:
    [conn] = parse_smpp_connections('[{"name": "c", "host": "h", "port": 1, "system_id": "s", "password": "p", '
                                    '"long_messages": "sar"}]')
    assert conn.long_messages == "sar"
    with pytest.raises(ValueError, match="long_messages"):
        SmppConnectionSettings(name="c", host="h", port=1, system_id="s", password="p", long_messages="split")


@pytest.mark.parametrize(("mode", "body"), [(m, b) for m in ("udh", "sar", "payload") for b in (GSM_LONG, UCS2_LONG)])
async def test_each_mode_reaches_the_handset_intact(sandbox: Sandbox, writer: OutcomeWriter, mode: str, body: str) -> None:
    smpp = SmppConnector(sandbox_connection(sandbox, long_messages=mode), writer, now_ms)
    await smpp.start()
    try:
        handset = "+46701112233"
        ids = await smpp.send(sms(body, handset))
        [received] = await sandbox.wait_for_messages(handset, 1)
    finally:
        await smpp.aclose()
    assert received.body == body
    assert len(ids) == (1 if mode == "payload" else len(submit_pdus(sms(body), 0, "udh")))
    assert len(set(ids)) == len(ids)
