"""data_sm, cancel_sm and replace_sm at the SMPP gateway, in both profiles, sent by our ESME
client (the third-party smpplib has no cancel_sm or replace_sm; the PDUs' bytes are checked
against SMPP 3.4's field order in tests/smpp/test_pdu.py): a data_sm sent and its receipt; a
scheduled message cancelled, by id and by addresses, and what cannot be cancelled; a
concatenated message cancelled before its last part; a scheduled message's text replaced, kept
times, and what cannot be replaced; 8-bit data sent, received and replaced as bytes."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tidings.core.statuses import Status
from tidings.smpp.client import EsmeClient
from tidings.smpp.constants import CommandStatus, DataCoding, Npi, Tag, Ton
from tidings.smpp.errors import CommandStatusError
from tidings.smpp.pdu import CancelSm, DataSm, DataSmResp, DeliverSm, ReplaceSm, SubmitSm
from tidings.store.gateway_schema import smpp_submit_parts
from tidings.store.schema import deliveries
from tidings.testing.platform import Platform

from ..pipeline.helpers import handset_messages, wait_handset, wait_until

IN_AN_HOUR = "000000010000000R"  # an SMPP relative time
Client = Callable[..., Awaitable[tuple[EsmeClient, "Inbox"]]]


class Inbox:
    """What the gateway delivered to one client (receipts)."""

    def __init__(self) -> None:
        self.pdus: list[DeliverSm | DataSm] = []

    async def take(self, pdu: DeliverSm | DataSm) -> int:
        self.pdus.append(pdu)
        return CommandStatus.ESME_ROK

    async def wait_receipt(self, message_id: str) -> None:
        async def arrived() -> bool:
            return any(p.tlv_str(Tag.RECEIPTED_MESSAGE_ID) == message_id for p in self.pdus)

        await wait_until(arrived, f"the receipt of {message_id}", timeout=15)


@pytest.fixture
async def esme(platform: Platform) -> AsyncIterator[Client]:
    """`client, inbox = await esme()`: a bound transceiver of the platform's account (or another's)."""
    opened: list[EsmeClient] = []

    async def bind(system_id: str | None = None, password: str | None = None) -> tuple[EsmeClient, Inbox]:
        inbox = Inbox()
        client = EsmeClient("127.0.0.1", platform.gateway.port, system_id or platform.creds.smpp_system_id,
                            password or platform.creds.smpp_password, on_deliver_sm=inbox.take)
        opened.append(client)
        await client.start()
        await client.wait_bound(10)
        return client, inbox

    yield bind
    for client in opened:
        await client.aclose(timeout=1.0)


def submit(to: str, text: str = "see you at ten", **fields: Any) -> SubmitSm:
    fields.setdefault("short_message", text.encode())
    return SubmitSm(source_addr_ton=Ton.ALPHANUMERIC, source_addr="Acme", dest_addr_ton=Ton.INTERNATIONAL,
                    dest_addr_npi=Npi.ISDN, destination_addr=to, **fields)


async def status_of(platform: Platform, batch_id: str) -> str:
    async with platform.ctx.db.read() as conn:
        return str((await conn.execute(select(deliveries.c.status).where(deliveries.c.batch_id == batch_id)))
                   .scalar_one())


async def rejected(client: EsmeClient, pdu: Any) -> int:
    with pytest.raises(CommandStatusError) as caught:
        await client.request(pdu)
    return caught.value.command_status


async def test_data_sm_is_sent_like_submit_sm_and_answered_with_its_id(
    platform: Platform, esme: Client, http: httpx.AsyncClient,
) -> None:
    client, inbox = await esme()
    response = await client.request(DataSm(
        source_addr_ton=Ton.ALPHANUMERIC, source_addr="Acme", dest_addr_ton=Ton.INTERNATIONAL,
        dest_addr_npi=Npi.ISDN, destination_addr="46701400001", registered_delivery=1,
        data_coding=DataCoding.UCS2, tlvs={Tag.MESSAGE_PAYLOAD: "Sent as data_sm — ✓".encode("utf-16-be")}))
    assert isinstance(response, DataSmResp) and response.message_id
    [message] = await wait_handset(platform, http, "+46701400001")
    assert message["body"] == "Sent as data_sm — ✓"
    await inbox.wait_receipt(response.message_id)


async def test_a_scheduled_message_is_cancelled_by_id_once_and_a_sent_one_is_not(
    platform: Platform, esme: Client, http: httpx.AsyncClient,
) -> None:
    client, _ = await esme()
    scheduled = await client.submit(submit("46701400002", schedule_delivery_time=IN_AN_HOUR))
    sent = await client.submit(submit("46701400003"))
    assert await rejected(client, CancelSm(message_id="NO-SUCH-ID", source_addr="Acme")) == \
        CommandStatus.ESME_RINVMSGID
    assert await rejected(client, CancelSm(message_id=scheduled.message_id, source_addr="Other")) == \
        CommandStatus.ESME_RINVSRCADR
    await client.request(CancelSm(message_id=scheduled.message_id, source_addr_ton=Ton.ALPHANUMERIC,
                                  source_addr="Acme"))
    assert await status_of(platform, scheduled.message_id) == Status.CANCELLED.value
    assert await rejected(client, CancelSm(message_id=scheduled.message_id)) == CommandStatus.ESME_RCANCELFAIL
    await wait_handset(platform, http, "+46701400003")
    assert await rejected(client, CancelSm(message_id=sent.message_id)) == CommandStatus.ESME_RCANCELFAIL
    response = await http.get(platform.xms(f"/batches/{scheduled.message_id}"), headers=platform.auth)
    assert response.json()["canceled"] is True


async def test_a_cancelled_message_that_asked_for_receipts_gets_a_deleted_one(
    platform: Platform, esme: Client, http: httpx.AsyncClient,
) -> None:
    """Through cancel_sm or the XMS API's cancel alike: the receipt says DELETED."""
    client, inbox = await esme()
    by_smpp = await client.submit(submit("46701400011", schedule_delivery_time=IN_AN_HOUR, registered_delivery=1))
    by_api = await client.submit(submit("46701400012", schedule_delivery_time=IN_AN_HOUR, registered_delivery=1))
    quiet = await client.submit(submit("46701400013", schedule_delivery_time=IN_AN_HOUR, registered_delivery=3))
    await client.request(CancelSm(message_id=by_smpp.message_id))
    response = await http.delete(platform.xms(f"/batches/{by_api.message_id}"), headers=platform.auth)
    assert response.status_code == 200, response.text
    await client.request(CancelSm(message_id=quiet.message_id))  # asked for successes only
    for sent in (by_smpp, by_api):
        await inbox.wait_receipt(sent.message_id)
    receipts = {p.tlv_str(Tag.RECEIPTED_MESSAGE_ID): p for p in inbox.pdus}
    assert set(receipts) == {by_smpp.message_id, by_api.message_id}
    assert all(b"stat:DELETED" in p.short_message for p in receipts.values())


async def test_another_accounts_message_is_unknown(platform: Platform, esme: Client) -> None:
    client, _ = await esme()
    scheduled = await client.submit(submit("46701400004", schedule_delivery_time=IN_AN_HOUR))
    other = await platform.project("other")
    stranger, _ = await esme(other.smpp_system_id, other.smpp_password)
    assert await rejected(stranger, CancelSm(message_id=scheduled.message_id)) == CommandStatus.ESME_RINVMSGID
    assert await rejected(stranger, ReplaceSm(message_id=scheduled.message_id, short_message=b"mine")) == \
        CommandStatus.ESME_RINVMSGID
    assert await status_of(platform, scheduled.message_id) == Status.QUEUED.value


async def test_cancel_sm_without_an_id_cancels_every_message_between_two_addresses(
    platform: Platform, esme: Client,
) -> None:
    client, _ = await esme()
    first = await client.submit(submit("46701400005", "one", schedule_delivery_time=IN_AN_HOUR))
    second = await client.submit(submit("46701400005", "two", schedule_delivery_time=IN_AN_HOUR))
    elsewhere = await client.submit(submit("46701400006", "three", schedule_delivery_time=IN_AN_HOUR))
    await client.request(CancelSm(source_addr_ton=Ton.ALPHANUMERIC, source_addr="Acme",
                                  dest_addr_ton=Ton.INTERNATIONAL, destination_addr="46701400005"))
    assert [await status_of(platform, m.message_id) for m in (first, second, elsewhere)] == [
        Status.CANCELLED.value, Status.CANCELLED.value, Status.QUEUED.value]
    assert await rejected(client, CancelSm(source_addr="Acme", destination_addr="46701400005")) == \
        CommandStatus.ESME_RCANCELFAIL


async def test_data_sm_parts_numbered_by_sar_tlvs_make_one_message(
    platform: Platform, esme: Client, http: httpx.AsyncClient,
) -> None:
    client, _ = await esme()
    halves = ["A long message sent as a data sm in two parts, ", "numbered by the SAR TLVs, joined here."]
    ids = set()
    for n, half in enumerate(halves, 1):
        response = await client.request(DataSm(
            source_addr_ton=Ton.ALPHANUMERIC, source_addr="Acme", dest_addr_ton=Ton.INTERNATIONAL,
            dest_addr_npi=Npi.ISDN, destination_addr="46701400009",
            tlvs={Tag.MESSAGE_PAYLOAD: half.encode(), Tag.SAR_MSG_REF_NUM: (0x0102).to_bytes(2, "big"),
                  Tag.SAR_TOTAL_SEGMENTS: bytes((2,)), Tag.SAR_SEGMENT_SEQNUM: bytes((n,))}))
        assert isinstance(response, DataSmResp)
        ids.add(response.message_id)
    assert len(ids) == 1
    [message] = await wait_handset(platform, http, "+46701400009")
    assert message["body"] == "".join(halves)


async def test_a_concatenated_message_is_cancelled_before_its_last_part(platform: Platform, esme: Client) -> None:
    client, _ = await esme()
    part = await client.submit(submit("46701400007", esm_class=0x40,
                                      short_message=bytes((5, 0, 3, 0x51, 2, 1)) + b"first half"))
    # Its text cannot be replaced before the message is whole: there is no message yet.
    assert await rejected(client, ReplaceSm(message_id=part.message_id, short_message=b"x")) == \
        CommandStatus.ESME_RREPLACEFAIL
    await client.request(CancelSm(message_id=part.message_id, source_addr="Acme"))
    async with platform.ctx.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(smpp_submit_parts))).scalar_one() == 0


async def test_a_scheduled_message_is_replaced_in_its_own_data_coding_keeping_its_times(
    platform: Platform, esme: Client, http: httpx.AsyncClient,
) -> None:
    client, inbox = await esme()
    scheduled = await client.submit(submit("46701400008", data_coding=DataCoding.UCS2,
                                           short_message="Café at ten".encode("utf-16-be"),
                                           schedule_delivery_time=IN_AN_HOUR))
    before = (await http.get(platform.xms(f"/batches/{scheduled.message_id}"), headers=platform.auth)).json()
    await client.request(ReplaceSm(message_id=scheduled.message_id, source_addr="Acme", registered_delivery=1,
                                   short_message="Café at eleven ☕".encode("utf-16-be")))
    after = (await http.get(platform.xms(f"/batches/{scheduled.message_id}"), headers=platform.auth)).json()
    assert after["body"] == "Café at eleven ☕"
    assert after["send_at"] == before["send_at"]  # an empty schedule_delivery_time keeps it
    assert (after["from_ton"], after["from_npi"]) == (before["from_ton"], before["from_npi"]) == (Ton.ALPHANUMERIC, 0)
    # Now due: a relative time of one second.
    await client.request(ReplaceSm(message_id=scheduled.message_id, schedule_delivery_time="000000000001000R",
                                   registered_delivery=1, short_message="Café now ☕".encode("utf-16-be")))
    [message] = await wait_handset(platform, http, "+46701400008", timeout=15)
    assert message["body"] == "Café now ☕"
    await inbox.wait_receipt(scheduled.message_id)
    assert await rejected(client, ReplaceSm(message_id=scheduled.message_id, short_message=b"too late")) == \
        CommandStatus.ESME_RREPLACEFAIL
    assert await rejected(client, ReplaceSm(message_id="NO-SUCH-ID", short_message=b"x")) == \
        CommandStatus.ESME_RINVMSGID
    assert len(await handset_messages(platform, http, "+46701400008")) == 1


async def test_customers_bind_and_send_over_tls(
    platform: Platform, http: httpx.AsyncClient, tmp_path: Path,
) -> None:
    """A gateway with a certificate (TIDINGS_SMPP_TLS_CERT_FILE / _KEY_FILE in production): the
    customer's ESME checks it, sends, and gets its receipt, all inside TLS."""
    from tidings.gateway.service import Gateway
    from tidings.smpp.tls import client_context, server_context

    from ..smpp.certs import make_certs

    certs = make_certs(tmp_path)
    gateway = Gateway(platform.gateway.ctx, "127.0.0.1", 0, ssl=server_context(certs.cert_file, certs.key_file))
    await gateway.start()
    inbox = Inbox()
    client = EsmeClient("127.0.0.1", gateway.port, platform.creds.smpp_system_id, platform.creds.smpp_password,
                        on_deliver_sm=inbox.take, ssl=client_context(certs.ca_file))
    try:
        await client.start()
        await client.wait_bound(10)
        sent = await client.submit(submit("46701400010", "sent inside TLS", registered_delivery=1))
        [message] = await wait_handset(platform, http, "+46701400010")
        assert message["body"] == "sent inside TLS"
        await inbox.wait_receipt(sent.message_id)
    finally:
        await client.aclose(timeout=1.0)
        await gateway.stop()


PORTS = bytes.fromhex("06050415811581")  # UDHL 6, IE 0x05: 16-bit application ports 5505 → 5505


async def test_eight_bit_data_goes_to_the_handset_as_it_came_and_is_replaced_as_data(
    platform: Platform, esme: Client, http: httpx.AsyncClient,
) -> None:
    """A customer's binary submit_sm (data_coding 4, UDHI, an application-port header) reaches the
    handset byte for byte as BINARY, shows through the XMS API as an mt_binary batch, and gets a
    receipt whose text is the data's first octets in hex; a scheduled one replaced keeps its
    header and takes the new data."""
    client, inbox = await esme()
    data = bytes(range(0x10, 0x30))
    sent = await client.submit(submit("46701400011", data_coding=DataCoding.OCTET_UNSPECIFIED_COMMON, esm_class=0x40,
                                      short_message=PORTS + data, registered_delivery=1))
    [message] = await wait_handset(platform, http, "+46701400011", timeout=15)
    assert (message["encoding"], message["udh"]) == ("BINARY", PORTS.hex())
    assert base64.b64decode(message["body"]) == data
    batch = (await http.get(platform.xms(f"/batches/{sent.message_id}"), headers=platform.auth)).json()
    assert (batch["type"], batch["udh"], base64.b64decode(batch["body"])) == ("mt_binary", PORTS.hex(), data)
    await inbox.wait_receipt(sent.message_id)
    [receipt] = [p for p in inbox.pdus if p.tlv_str(Tag.RECEIPTED_MESSAGE_ID) == sent.message_id]
    assert b"stat:DELIVRD" in receipt.short_message
    assert b"text:" + (PORTS + data)[:10].hex().encode() in receipt.short_message

    scheduled = await client.submit(submit("46701400012", data_coding=DataCoding.OCTET_UNSPECIFIED_COMMON,
                                           esm_class=0x40, short_message=PORTS + b"\x01",
                                           schedule_delivery_time=IN_AN_HOUR))
    await client.request(ReplaceSm(message_id=scheduled.message_id, schedule_delivery_time="000000000001000R",
                                   short_message=PORTS + b"\x02\x03"))
    [replaced] = await wait_handset(platform, http, "+46701400012", timeout=15)
    assert (replaced["udh"], base64.b64decode(replaced["body"])) == (PORTS.hex(), b"\x02\x03")
    assert await rejected(client, submit("46701400013", data_coding=DataCoding.OCTET_UNSPECIFIED_COMMON,
                                         short_message=bytes(141))) == CommandStatus.ESME_RINVMSGLEN
