"""Abuse and bad input at the SMPP gateway, in both profiles: binds from outside the account's
allowed networks, from an address with too many failed binds, and beyond the account's limit
across gateway processes (ESME_RBINDFAIL), floods beyond a bind's window (ESME_RMSGQFUL) and
beyond its throughput (ESME_RTHROTTLED), malformed and unknown PDUs, bad
addresses and data codings, query_sm — each answered with its
SMPP status while the connection, and every other bind, keeps working."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable

import httpx
import pytest
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp
from sqlalchemy import select, update

from tidings.smpp.constants import CommandStatus, MessageState
from tidings.smpp.pdu import BindTransceiver, BindTransmitter
from tidings.smpp.testing import RawPeer
from tidings.store.gateway_schema import smpp_accounts, smpp_binds
from tidings.testing.platform import Platform

from ..pipeline.helpers import wait_handset, wait_status, wait_until
from .esme import Esme

EsmeFactory = Callable[..., Awaitable[Esme]]


async def set_limits(platform: Platform, **values: int) -> None:
    async with platform.ctx.db.write() as conn:
        await conn.execute(update(smpp_accounts)
                           .where(smpp_accounts.c.system_id == platform.creds.smpp_system_id).values(**values))


def submit_bytes(esme: Esme, count: int, to: str = "46701200001") -> tuple[bytes, list[int]]:
    """`count` submit_sm built by smpplib, as one write (they reach the server together)."""
    data, sequences = b"", []
    for i in range(count):
        pdu = smpplib.smpp.make_pdu(
            "submit_sm", client=esme.client, source_addr_ton=smpplib.consts.SMPP_TON_ALNUM, source_addr="Acme",
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL, dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
            destination_addr=to, short_message=f"flood {i}".encode(), registered_delivery=0,
        )
        data += pdu.generate()
        sequences.append(pdu.sequence)
    return data, sequences


async def test_binds_only_from_the_accounts_allowed_networks(platform: Platform, esmes: EsmeFactory) -> None:
    async def bind_status() -> int:
        try:
            await esmes("transceiver")
        except smpplib.exceptions.PDUError as exc:
            return int(exc.args[1])
        return CommandStatus.ESME_ROK

    for networks, status in [("203.0.113.0/24 2001:db8::/32", CommandStatus.ESME_RBINDFAIL),
                             ("not a network", CommandStatus.ESME_RBINDFAIL),
                             ("203.0.113.7, 127.0.0.0/8", CommandStatus.ESME_ROK),
                             ("", CommandStatus.ESME_ROK)]:
        async with platform.ctx.db.write() as conn:
            await conn.execute(update(smpp_accounts).where(smpp_accounts.c.system_id == platform.creds.smpp_system_id)
                               .values(allowed_networks=networks))
        assert await bind_status() == status, networks


async def test_an_address_with_too_many_failed_binds_is_refused_for_a_while(
    platform: Platform, esmes: EsmeFactory,
) -> None:
    """Guessing the 8-character password: past the limit even the right one is refused unread."""
    from tidings.gateway.guard import FAILED_BINDS

    for _ in range(FAILED_BINDS + 1):
        with pytest.raises(smpplib.exceptions.PDUError) as wrong:
            await esmes(password="guess")
        assert wrong.value.args[1] == CommandStatus.ESME_RINVPASWD
    with pytest.raises(smpplib.exceptions.PDUError) as blocked:
        await esmes()
    assert blocked.value.args[1] == CommandStatus.ESME_RBINDFAIL


async def test_binds_beyond_the_accounts_limit_are_refused_across_gateway_processes(
    platform: Platform, esmes: EsmeFactory,
) -> None:
    """Throughput is per bind: without a limit on binds an account could multiply it."""
    system_id = platform.creds.smpp_system_id
    await set_limits(platform, max_binds=3)
    first = await esmes("transmitter")
    await esmes("receiver")
    # Another gateway process, alive (it refreshes its count), holds one bind of the account.
    async with platform.ctx.db.write() as conn:
        await conn.execute(smpp_binds.insert().values(gateway_id="another-process", system_id=system_id, binds=1,
                                                      seen_ms=platform.ctx.clock()))

    async def refused(mode: str) -> int:
        with pytest.raises(smpplib.exceptions.PDUError) as caught:
            await esmes(mode)
        return int(caught.value.args[1])

    assert await refused("transceiver") == CommandStatus.ESME_RBINDFAIL
    # That process stopped without a word: once its lease is over its bind counts for nothing.
    async with platform.ctx.db.write() as conn:
        await conn.execute(update(smpp_binds).where(smpp_binds.c.gateway_id == "another-process")
                           .values(seen_ms=platform.ctx.clock() - 60_000))
    await esmes("transceiver")
    assert await refused("transmitter") == CommandStatus.ESME_RBINDFAIL
    # A session that goes gives its place back.
    await first.close()

    async def rebound() -> bool:
        try:
            await esmes("transmitter")
        except smpplib.exceptions.PDUError:
            return False
        return True

    await wait_until(rebound, "a bind in the place given back")
    async with platform.ctx.db.read() as conn:
        counts = dict((await conn.execute(select(smpp_binds.c.gateway_id, smpp_binds.c.binds)
                                          .where(smpp_binds.c.system_id == system_id))).all())
    assert counts[platform.gateway.handler.limits.gateway_id] == 3
    # The stopped process's row goes after ten leases; live ones stay.
    limits = platform.gateway.handler.limits
    assert await limits.forget_stopped() == 0
    async with platform.ctx.db.write() as conn:
        await conn.execute(update(smpp_binds).where(smpp_binds.c.gateway_id == "another-process")
                           .values(seen_ms=platform.ctx.clock() - int(limits.lease * 10 * 1000) - 1))
    assert await limits.forget_stopped() == 1
    async with platform.ctx.db.read() as conn:
        assert set((await conn.execute(select(smpp_binds.c.gateway_id)
                                       .where(smpp_binds.c.system_id == system_id))).scalars()) == {limits.gateway_id}


async def test_flood_beyond_the_window_is_answered_msgqful_and_the_bind_stays_usable(
    platform: Platform, esmes: EsmeFactory, http: httpx.AsyncClient,
) -> None:
    await set_limits(platform, window=3)
    esme = await esmes()
    data, sequences = submit_bytes(esme, 20)
    await asyncio.to_thread(esme.send_raw_sync, data)
    statuses = [(await esme.response(seq)).status for seq in sequences]
    accepted = statuses.count(CommandStatus.ESME_ROK)
    assert 1 <= accepted <= 3
    assert statuses.count(CommandStatus.ESME_RMSGQFUL) == 20 - accepted
    # The same bind keeps working, and only the accepted messages were sent.
    [ok] = await esme.submit("after the flood", to="46701200001", registered_delivery=0)
    assert ok.status == CommandStatus.ESME_ROK
    messages = await wait_handset(platform, http, "+46701200001", accepted + 1)
    accepted_bodies = {f"flood {i}" for i, status in enumerate(statuses) if status == CommandStatus.ESME_ROK}
    assert {m["body"] for m in messages} == accepted_bodies | {"after the flood"}
    assert len(messages) == accepted + 1


async def test_submits_beyond_the_throughput_cap_are_throttled(
    platform: Platform, esmes: EsmeFactory,
) -> None:
    await set_limits(platform, throughput=5)
    esme = await esmes()
    data, sequences = submit_bytes(esme, 10, to="46701200002")
    await asyncio.to_thread(esme.send_raw_sync, data)
    statuses = [(await esme.response(seq)).status for seq in sequences]
    assert statuses[0] == CommandStatus.ESME_ROK
    assert statuses.count(CommandStatus.ESME_RTHROTTLED) >= 8
    await asyncio.sleep(0.3)  # the bucket refills at 5 a second
    [ok] = await esme.submit("paced", to="46701200002", registered_delivery=0)
    assert ok.status == CommandStatus.ESME_ROK


async def test_malformed_and_unknown_pdus_get_their_status_and_other_binds_are_unaffected(
    platform: Platform, esmes: EsmeFactory, http: httpx.AsyncClient,
) -> None:
    good = await esmes()
    bad = await esmes()
    # An unknown command id: generic_nack ESME_RINVCMDID, the connection stays up.
    await asyncio.to_thread(bad.send_raw_sync, struct.pack(">IIII", 16, 0x00000999, 0, 7001))
    # A submit_sm whose body stops in the middle of its fields.
    body = b"\x00\x05\x00Acme\x00\x01\x01"  # service_type, source ton/npi/addr, dest ton/npi, no more
    await asyncio.to_thread(bad.send_raw_sync, struct.pack(">IIII", 16 + len(body), 0x00000004, 0, 7002) + body)

    async def answered(sequence: int) -> int:
        async with asyncio.timeout(10):
            while True:
                for nack in bad.nacks:
                    if nack.sequence == sequence:
                        return nack.status
                if sequence in bad.responses:
                    return bad.responses[sequence].status
                await asyncio.sleep(0.02)

    assert await answered(7001) == CommandStatus.ESME_RINVCMDID
    assert await answered(7002) != CommandStatus.ESME_ROK
    [ok] = await bad.submit("still bound", to="46701200003", registered_delivery=0)
    assert ok.status == CommandStatus.ESME_ROK

    # A frame longer than any PDU may be: generic_nack and that connection is closed …
    await asyncio.to_thread(bad.send_raw_sync, struct.pack(">IIII", 0x7FFFFFFF, 0x00000004, 0, 7003))
    await asyncio.to_thread(bad.closed_by_peer.wait, 10)
    assert bad.closed_by_peer.is_set()
    # … while the other customer's bind carries on.
    [other] = await good.submit("unaffected", to="46701200004")
    assert other.status == CommandStatus.ESME_ROK
    await wait_status(platform, http, other.message_id, "+46701200004", "Delivered")


async def test_bad_addresses_and_data_codings_are_refused_with_their_status(
    platform: Platform, esmes: EsmeFactory,
) -> None:
    esme = await esmes()
    cases = [
        ({"to": "not-a-number"}, CommandStatus.ESME_RINVDSTADR),
        ({"to": "999"}, CommandStatus.ESME_RINVDSTADR),  # digits, but no valid E.164 number
        ({"to": "46701200005", "source_ton": 7}, CommandStatus.ESME_RINVSRCTON),
        ({"to": "46701200005", "source_npi": 19}, CommandStatus.ESME_RINVSRCNPI),
        ({"to": "46701200005", "short_message": b"\x01\x02", "data_coding": 0x05}, CommandStatus.ESME_RINVDCS),
        ({"to": "46701200005", "schedule_delivery_time": "garbage"}, CommandStatus.ESME_RINVSCHED),
    ]
    for fields, status in cases:
        [response] = await esme.submit("hello", registered_delivery=0, **fields)
        assert response.status == status, fields
        assert response.message_id == ""
    [ok] = await esme.submit("hello", to="46701200005", registered_delivery=0)
    assert ok.status == CommandStatus.ESME_ROK


async def test_query_sm_reports_the_message_state(
    platform: Platform, esmes: EsmeFactory, http: httpx.AsyncClient,
) -> None:
    esme = await esmes("transceiver")
    [sent] = await esme.submit("query me", to="46701200007", registered_delivery=0)
    await wait_status(platform, http, sent.message_id, "+46701200007", "Delivered")
    states: list[int] = []
    esme.client.set_query_resp_handler(lambda pdu, **_: states.append(int(pdu.message_state)))
    await asyncio.to_thread(esme.client.query_message, message_id=sent.message_id, source_addr_ton=5,
                            source_addr_npi=0, source_addr="Acme")
    async with asyncio.timeout(10):
        while not states:
            await asyncio.sleep(0.02)
    assert states == [MessageState.DELIVERED]


async def test_a_gateway_refreshes_its_bind_counts_and_removes_them_when_it_stops(platform: Platform) -> None:
    from tidings.gateway.service import Gateway

    other = Gateway(platform.gateway.ctx, "127.0.0.1", 0)
    await other.start()
    gateway_id = other.handler.limits.gateway_id

    async def rows() -> list[tuple[int, int]]:
        async with platform.ctx.db.read() as conn:
            return [tuple(r) for r in await conn.execute(  # type: ignore[misc]
                select(smpp_binds.c.binds, smpp_binds.c.seen_ms).where(smpp_binds.c.gateway_id == gateway_id))]

    try:
        esme = Esme(other.port, platform.creds.smpp_system_id, platform.creds.smpp_password)
        await esme.bind("transceiver")
        [(binds, seen)] = await rows()
        assert binds == 1
        other.handler.limits.clock = lambda: seen + 10_000
        await other.handler.limits.refresh()
        assert await rows() == [(1, seen + 10_000)]
        await esme.close()
    finally:
        await other.stop()
    assert await rows() == []


async def test_two_binds_on_one_connection_count_as_one(platform: Platform) -> None:
    """A second bind sent before the first is answered gets ESME_RALYBND and takes no place of
    the account's `max_binds`; the connection's one place is given back when it closes."""
    system_id, password = platform.creds.smpp_system_id, platform.creds.smpp_password
    limits = platform.gateway.handler.limits
    peer = await RawPeer.connect("127.0.0.1", platform.gateway.port)
    try:
        await peer.send(BindTransceiver(sequence_number=1, system_id=system_id, password=password).encode()
                        + BindTransmitter(sequence_number=2, system_id=system_id, password=password).encode())
        answers = {pdu.sequence_number: pdu.command_status for pdu in [await peer.read_pdu(), await peer.read_pdu()]}
        assert answers == {1: CommandStatus.ESME_ROK, 2: CommandStatus.ESME_RALYBND}
        assert limits.local[system_id] == 1
    finally:
        await peer.close()

    async def given_back() -> bool:
        return limits.local[system_id] == 0

    await wait_until(given_back, "the place given back", timeout=5.0)
