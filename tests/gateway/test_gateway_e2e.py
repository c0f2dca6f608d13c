"""The SMPP gateway end to end, in both profiles, with the third-party smpplib client as the
customer: binds, submit_sm through the same pipeline as the XMS API to a sandbox handset,
receipts and MO back as deliver_sm, receipts queued while unbound and delivered on rebind."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm

from tidings.smpp.constants import CommandStatus, MessageState
from tidings.testing.platform import Platform

from ..pipeline.helpers import handset_messages, wait_handset, wait_status, wait_until
from ..pipeline.test_routing_senders import api, token
from .esme import Esme, is_receipt, receipt_id, text

EsmeFactory = Callable[..., Awaitable[Esme]]


async def test_bind_with_wrong_password_or_unknown_system_id_is_refused(
    platform: Platform, esmes: EsmeFactory,
) -> None:
    with pytest.raises(smpplib.exceptions.PDUError) as wrong:
        await esmes(password="wrong")
    assert wrong.value.args[1] == CommandStatus.ESME_RINVPASWD
    with pytest.raises(smpplib.exceptions.PDUError) as unknown:
        await esmes(system_id="nobody")
    assert unknown.value.args[1] == CommandStatus.ESME_RINVSYSID
    # The right credentials bind, as each of the three bind types.
    for mode in ("transmitter", "receiver", "transceiver"):
        esme = await esmes(mode)
        assert esme.client.state != smpplib.consts.SMPP_CLIENT_STATE_OPEN


async def test_submit_reaches_the_handset_and_the_receipt_comes_back_as_deliver_sm(
    platform: Platform, esmes: EsmeFactory, http: httpx.AsyncClient,
) -> None:
    esme = await esmes()
    [response] = await esme.submit("Your table is ready", to="46701100001", source="Bistro")
    assert response.status == CommandStatus.ESME_ROK
    batch_id = response.message_id

    [message] = await wait_handset(platform, http, "+46701100001")
    assert (message["from"], message["body"]) == ("Bistro", "Your table is ready")
    # The same batch, seen through the XMS API of the account's service plan.
    await wait_status(platform, http, batch_id, "+46701100001", "Delivered")
    batch = await http.get(platform.xms(f"/batches/{batch_id}"), headers=platform.auth)
    assert batch.status_code == 200
    assert batch.json()["from"] == "Bistro"

    [receipt] = await esme.deliveries(1, where=is_receipt)
    assert receipt_id(receipt) == batch_id
    assert int(receipt.message_state) == MessageState.DELIVERED
    body = receipt.short_message.decode()
    assert f"id:{batch_id} " in body and "stat:DELIVRD" in body and "text:Your table is ready" in body
    assert receipt.source_addr.decode() == "46701100001"
    assert receipt.destination_addr.decode() == "Bistro"


async def test_the_source_address_goes_out_with_the_type_and_plan_the_customer_gave(
    platform: Platform, esmes: EsmeFactory, http: httpx.AsyncClient,
) -> None:
    """A national number (TON 2, NPI ISDN) reaches the handset as written; by its digits alone
    it would have gone out as international."""
    esme = await esmes()
    [response] = await esme.submit("From the front desk", to="46701100009", source="0701234567",
                                   source_ton=smpplib.consts.SMPP_TON_NATNL, source_npi=smpplib.consts.SMPP_NPI_ISDN)
    assert response.status == CommandStatus.ESME_ROK
    [message] = await wait_handset(platform, http, "+46701100009")
    assert message["from"] == "0701234567"
    batch = (await http.get(platform.xms(f"/batches/{response.message_id}"), headers=platform.auth)).json()
    assert (batch["from"], batch["from_ton"], batch["from_npi"]) == ("0701234567", 2, 1)


async def test_failed_delivery_gives_an_undeliv_receipt_and_no_receipt_when_none_asked(
    platform: Platform, esmes: EsmeFactory, http: httpx.AsyncClient,
) -> None:
    platform.sandbox.set_rule("+46701100002", failure_rate=1.0, error_code=27)
    esme = await esmes()
    [failed] = await esme.submit("Are you there?", to="46701100002")
    [quiet] = await esme.submit("No receipt please", to="46701100003", registered_delivery=0)
    [receipt] = await esme.deliveries(1, where=is_receipt)
    assert receipt_id(receipt) == failed.message_id
    assert int(receipt.message_state) == MessageState.UNDELIVERABLE
    assert "stat:UNDELIV" in receipt.short_message.decode()
    await wait_status(platform, http, quiet.message_id, "+46701100003", "Delivered")
    await wait_handset(platform, http, "+46701100003")
    await wait_until(lambda: _no_more_receipts(esme, 1), "no second receipt", timeout=1.0)


async def _no_more_receipts(esme: Esme, count: int) -> bool:
    return len([p for p in esme.delivered if is_receipt(p)]) == count


@pytest.mark.parametrize(
    ("body", "segments", "encoding"),
    [
        ("Long GSM message with escapes {like} [these] and € signs, " * 4, 2, "GSM"),
        ("Hälsningar från Åsa 🚲 — välkommen! " * 5, 3, "UCS2"),
        ("Короткое сообщение", 1, "UCS2"),
    ],
)
async def test_long_and_ucs2_messages_become_one_batch_and_reach_the_handset_whole(
    platform: Platform, esmes: EsmeFactory, http: httpx.AsyncClient, body: str, segments: int, encoding: str,
) -> None:
    esme = await esmes()
    responses = await esme.submit(body, to="46701100010")
    assert len(responses) >= segments
    assert {r.status for r in responses} == {CommandStatus.ESME_ROK}
    assert len({r.message_id for r in responses}) == 1  # every part answered with the batch id
    [message] = await wait_handset(platform, http, "+46701100010")
    assert message["body"] == body
    assert message["encoding"] == encoding
    [receipt] = await esme.deliveries(1, where=is_receipt)
    assert receipt_id(receipt) == responses[0].message_id


async def test_parts_numbered_by_sar_tlvs_become_one_message(
    platform: Platform, esmes: EsmeFactory, http: httpx.AsyncClient,
) -> None:
    """A customer whose ESME numbers long messages with the SAR TLVs instead of a UDH."""
    esme = await esmes()
    body = "Numbered by SAR TLVs, not by a header: " + "the parts travel bare and are joined here. " * 6
    parts, coding, esm_class = smpplib.gsm.make_parts(body, use_udhi=False)
    assert len(parts) >= 2 and esm_class == smpplib.consts.SMPP_MSGTYPE_DEFAULT

    def send() -> list[int]:
        return [esme.client.send_message(
            source_addr_ton=smpplib.consts.SMPP_TON_ALNUM, source_addr="Acme",
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL, dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
            destination_addr="46701100011", short_message=part, data_coding=coding, esm_class=esm_class,
            registered_delivery=1, sar_msg_ref_num=0x1234, sar_total_segments=len(parts), sar_segment_seqnum=n,
        ).sequence for n, part in enumerate(parts, 1)]

    responses = [await esme.response(seq) for seq in await asyncio.to_thread(send)]
    assert {r.status for r in responses} == {CommandStatus.ESME_ROK}
    assert len({r.message_id for r in responses}) == 1
    [message] = await wait_handset(platform, http, "+46701100011")
    assert message["body"] == body


async def test_mo_reply_arrives_as_deliver_sm(
    platform: Platform, esmes: EsmeFactory, http: httpx.AsyncClient,
) -> None:
    esme = await esmes("receiver")
    sender = await esmes("transmitter")
    [sent] = await sender.submit("Reply YES to confirm", to="46701100020", source="46700002000",
                                 source_ton=smpplib.consts.SMPP_TON_INTL, registered_delivery=0)
    assert sent.status == CommandStatus.ESME_ROK
    await wait_handset(platform, http, "+46701100020")
    reply = "YES — and thanks for the reminder, see you at 10:00 on Tuesday! " * 3
    response = await http.post(f"{platform.base_url}/sandbox/v1/handsets/46701100020/messages",
                               json={"to": "+46700002000", "body": reply})
    assert response.status_code == 202, response.text
    parts = await esme.deliveries(3, where=lambda p: not is_receipt(p))
    assert {p.source_addr.decode() for p in parts} == {"46701100020"}
    assert {p.destination_addr.decode() for p in parts} == {"46700002000"}
    assert "".join(text(p) for p in parts) == reply
    assert sender.delivered == []  # a transmitter gets no deliver_sm


async def test_a_binary_mo_is_forwarded_as_data_with_its_header(
    platform: Platform, esmes: EsmeFactory, http: httpx.AsyncClient,
) -> None:
    """A handset's binary MO (an application-port header and a vCard) reaches the customer's
    receiver as 8-bit data with that header, byte for byte — one deliver_sm when it fits, parts
    with a concatenation element added when it does not — and text MO stays text."""
    esme = await esmes("receiver")
    sender = await esmes("transmitter")
    [sent] = await sender.submit("Send us your card", to="46701100030", source="46700003000",
                                 source_ton=smpplib.consts.SMPP_TON_INTL, registered_delivery=0)
    assert sent.status == CommandStatus.ESME_ROK
    await wait_handset(platform, http, "+46701100030")
    url = f"{platform.base_url}/sandbox/v1/handsets/46701100030/messages"
    ports = bytes.fromhex("06050423f423f4")
    card = b"BEGIN:VCARD"
    binary = await http.post(url, json={"to": "+46700003000", "binary": base64.b64encode(card).decode(),
                                        "udh": ports.hex()})
    assert binary.status_code == 202, binary.text
    [forwarded] = await esme.deliveries(1, where=lambda p: not is_receipt(p))
    assert (int(forwarded.data_coding), int(forwarded.esm_class) & 0x40) == (0x04, 0x40)
    assert forwarded.short_message == ports + card
    assert forwarded.source_addr.decode() == "46701100030"

    long_card = bytes(range(256)) * 2  # 512 octets: four parts
    longer = await http.post(url, json={"to": "+46700003000", "binary": base64.b64encode(long_card).decode(),
                                        "udh": ports.hex()})
    assert longer.status_code == 202, longer.text
    parts = await esme.deliveries(5, where=lambda p: not is_receipt(p))
    joined = b""
    for part in sorted(parts[1:], key=lambda p: p.short_message[ports[0] + 1 + 4]):
        header = part.short_message[: part.short_message[0] + 1]
        assert header[1:7] == ports[1:] and header[7:9] == b"\x00\x03"  # the ports, then concatenation
        joined += part.short_message[len(header):]
    assert joined == long_card

    text_reply = await http.post(url, json={"to": "+46700003000", "body": "and in words: thanks"})
    assert text_reply.status_code == 202
    messages = await esme.deliveries(6, where=lambda p: not is_receipt(p))
    assert text(messages[-1]) == "and in words: thanks"


async def test_receipts_queued_while_unbound_arrive_on_rebind(
    platform: Platform, esmes: EsmeFactory, http: httpx.AsyncClient,
) -> None:
    first = await esmes("transmitter")
    ids = [(await first.submit(f"Queued receipt {i}", to=f"4670110003{i}"))[0].message_id for i in range(3)]
    for i, batch_id in enumerate(ids):
        await wait_status(platform, http, batch_id, f"+4670110003{i}", "Delivered")
    await first.close()
    assert first.delivered == []

    # The customer's receiver fails on the first receipt (answered before the test could change
    # anything after the bind: the queued receipts go out as soon as it is accepted): that one
    # is delivered again.
    rejected: list[Any] = []

    def fail_the_first(pdu: Any) -> int | None:
        if rejected:
            return None
        rejected.append(pdu)
        return smpplib.consts.SMPP_ESME_RX_T_APPN

    receiver = await esmes("receiver", on_deliver=fail_the_first)
    receipts = await receiver.deliveries(3 + 1)
    assert {receipt_id(p) for p in receipts} == set(ids)
    assert [receipt_id(p) for p in receipts].count(receipt_id(rejected[0])) == 2
    assert len(await handset_messages(platform, http, "+46701100030")) == 1


async def test_a_null_source_addr_goes_out_from_the_default_originator(
    platform: Platform, esmes: EsmeFactory, http: httpx.AsyncClient,
) -> None:
    """SMPP 3.4 lets a submit_sm's source_addr be NULL ("if not known"): the message goes out from
    the project's default sender for the destination's country, as an XMS batch without `from`
    does; a country without one gets a REJECTD receipt (the batch's recipient: Aborted, 410)."""
    r = await http.put(api(platform, "/sender_policy"), headers=await token(platform, http),
                       json={"mode": "off", "defaults": {"SE": "+46700000099"}})
    assert r.status_code == 200, r.text
    esme = await esmes()
    [to_se] = await esme.submit("no sender given", to="46701100051", source="",
                                source_ton=smpplib.consts.SMPP_TON_UNK, source_npi=0)
    [to_us] = await esme.submit("no sender here either", to="14155552691", source="",
                                source_ton=smpplib.consts.SMPP_TON_UNK, source_npi=0)
    assert to_se.status == to_us.status == CommandStatus.ESME_ROK

    [message] = await wait_handset(platform, http, "+46701100051")
    assert (message["from"], message["body"]) == ("+46700000099", "no sender given")
    aborted = await wait_status(platform, http, to_us.message_id, "+14155552691", "Aborted")
    assert aborted["code"] == 410
    assert await handset_messages(platform, http, "+14155552691") == []
    receipts = {receipt_id(pdu): pdu for pdu in await esme.deliveries(2, where=is_receipt)}
    assert int(receipts[to_se.message_id].message_state) == MessageState.DELIVERED
    assert int(receipts[to_us.message_id].message_state) == MessageState.REJECTED
    assert "stat:REJECTD" in receipts[to_us.message_id].short_message.decode()
    assert receipts[to_se.message_id].destination_addr.decode() == ""
