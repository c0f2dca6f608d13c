"""The sandbox with a data directory: a stop saves what it holds and owes, the next start takes it
back (inboxes, rules, deliveries waiting out their latency, queued receipts and MO, message ids,
parts of a concatenated message), and an unreadable state file leaves it empty."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tidings.core.encoding import decode, segment
from tidings.sandbox import Sandbox
from tidings.sandbox.state_file import state_path
from tidings.smpp import CommandStatus, EsmeClient, Tag
from tidings.smpp.constants import EsmClass, Npi, Ton
from tidings.smpp.pdu import SubmitSm

from .conftest import PASSWORD, SEED, SYSTEM_ID, Inbox
from .test_smsc import SENDER, submit_text

FAST = "+46701234567"  # no latency
SLOW = "+46702345678"  # the slow rule's latency
SLOW_MS = 1500
CLOCKS_MS = 3  # how far the loop's and the wall clock may disagree over SLOW_MS, and rounding
REPLY_TO = "+46700000000"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def make_sandbox(data_dir: Path, clock: Callable[[], int] = _now_ms) -> Sandbox:
    world = Sandbox(seed=SEED, data_dir=str(data_dir), clock=clock)
    world.add_account(SYSTEM_ID, PASSWORD)
    return world


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., EsmeClient]]:
    made: list[EsmeClient] = []

    def connect(world: Sandbox, **options: Any) -> EsmeClient:
        client = EsmeClient("127.0.0.1", world.port, system_id=SYSTEM_ID, password=PASSWORD,
                            reconnect_delay=0.05, reconnect_max_delay=0.2, **options)
        made.append(client)
        return client

    yield connect
    for client in made:
        await client.aclose(timeout=1.0)


async def first_part(client: EsmeClient, to: str, text: str, reference: int) -> str:
    """Submit only the first part of a concatenated text; its message id."""
    encoded = segment(text, reference=reference)
    response = await client.submit(SubmitSm(
        source_addr=SENDER, source_addr_ton=Ton.ALPHANUMERIC, destination_addr=to[1:],
        dest_addr_ton=Ton.INTERNATIONAL, dest_addr_npi=Npi.ISDN, esm_class=EsmClass.UDHI,
        registered_delivery=1, data_coding=encoded.data_coding, short_message=encoded.parts[0]))
    return response.message_id


async def second_part(client: EsmeClient, to: str, text: str, reference: int) -> str:
    encoded = segment(text, reference=reference)
    response = await client.submit(SubmitSm(
        source_addr=SENDER, source_addr_ton=Ton.ALPHANUMERIC, destination_addr=to[1:],
        dest_addr_ton=Ton.INTERNATIONAL, dest_addr_npi=Npi.ISDN, esm_class=EsmClass.UDHI,
        registered_delivery=1, data_coding=encoded.data_coding, short_message=encoded.parts[1]))
    return response.message_id


async def test_a_restart_keeps_inboxes_rules_owed_receipts_and_pending_deliveries(
        tmp_path: Path, clients: Callable[..., EsmeClient]) -> None:
    before = make_sandbox(tmp_path)
    await before.start()
    before.set_rule("", latency_ms=0)
    before.set_rule("+46702", latency_ms=SLOW_MS)
    before.handset("+46703000000").reachable = False  # a configured handset, holding nothing
    sender = clients(before, bind="transmitter")  # nobody takes receipts: they wait in the outbox
    await sender.start()
    [fast_id] = await submit_text(sender, FAST, "before the stop")
    await before.wait_for_messages(FAST, 1)
    submitted_ms = _now_ms()
    [slow_id] = await submit_text(sender, SLOW, "across the stop")
    long_text = "parted " * 30
    part_id = await first_part(sender, FAST, long_text, reference=42)
    mo_id = await before.send_mo(FAST, REPLY_TO, "a reply nobody took yet")
    await before.voice.place_flash_call(FAST, "+15550001111")
    async with asyncio.timeout(5):
        while len(before.smsc.outboxes[SYSTEM_ID]) < 3:  # the receipts of the fast one and the part, the MO
            await asyncio.sleep(0.01)
    assert before.messages_for(SLOW) == []
    await sender.aclose(1.0)
    await before.stop()
    path = state_path(str(tmp_path))
    assert os.path.exists(path)
    assert os.stat(path).st_mode & 0o777 == 0o600

    after = make_sandbox(tmp_path)
    await after.start()
    try:
        assert not os.path.exists(path)  # taken: a crash from here on does not take it again
        [kept] = after.messages_for(FAST)
        assert (kept.body, kept.message_id, kept.sender) == ("before the stop", fast_id, SENDER)
        assert [m.message_id for m in after.handset(FAST).sent] == [mo_id]
        assert after.handset("+46703000000").reachable is False
        assert after.rules.match(SLOW).latency_min_ms == SLOW_MS
        assert after.rules.match(FAST).latency_max_ms == 0
        [call] = after.voice.calls_for(FAST)
        assert call.sender == "+15550001111"

        inbox = Inbox()
        receiver = clients(after, on_deliver_sm=inbox)  # transceiver: takes what is owed
        await receiver.start()
        owed = await inbox.wait(3)
        assert [p.tlv_str(Tag.RECEIPTED_MESSAGE_ID) for p in owed[:2]] == [fast_id, part_id]
        assert decode(owed[2].short_message, owed[2].data_coding) == "a reply nobody took yet"
        assert after.messages_for(SLOW) == []  # its latency is not over yet

        # The rest of the concatenated message completes the part accepted before the stop.
        rest_id = await second_part(receiver, FAST, long_text, reference=42)
        [_, joined] = await after.wait_for_messages(FAST, 2)
        assert (joined.body, joined.segments, joined.message_id) == (long_text, 2, part_id)

        [arrived] = await after.wait_for_messages(SLOW, 1, timeout=5.0)
        assert arrived.message_id == slow_id
        # The loop's clock times the latency, the wall clock stamps the arrival, and the SMSC takes
        # what is due within a millisecond (as an event loop's timers do): a few ms either way.
        # Not honouring the rest of the latency would have it here at once, ~1.4 s too early.
        assert submitted_ms + SLOW_MS - CLOCKS_MS <= arrived.received_at_ms <= submitted_ms + SLOW_MS + 1000
        receipts = await inbox.wait(5)
        assert {p.tlv_str(Tag.RECEIPTED_MESSAGE_ID) for p in receipts[3:]} == {rest_id, slow_id}

        # Ids go on from where the first run left off: none given twice.
        given = [fast_id, slow_id, part_id, mo_id]
        [new_id] = await submit_text(receiver, FAST, "after the restart")
        assert rest_id not in given and new_id not in given
        assert {i[:8] for i in [*given, rest_id, new_id]} == {fast_id[:8]}
        assert int(rest_id[8:], 16) > max(int(i[8:], 16) for i in given)
        assert int(new_id[8:], 16) > int(rest_id[8:], 16)
        assert await after.voice.place_flash_call(FAST, "+15550001111") != call.call_id
    finally:
        await after.stop()


async def test_a_delivery_due_while_stopped_arrives_at_once(tmp_path: Path, clients: Callable[..., EsmeClient]) -> None:
    before = make_sandbox(tmp_path)
    await before.start()
    before.set_rule("", latency_ms=60_000)
    sender = clients(before)
    await sender.start()
    [message_id] = await submit_text(sender, SLOW, "overdue")
    await sender.aclose(1.0)
    await before.stop()
    # The next start is two minutes later, by the sandbox's clock.
    after = make_sandbox(tmp_path, clock=lambda: _now_ms() + 120_000)
    await after.start()
    try:
        [arrived] = await after.wait_for_messages(SLOW, 1, timeout=1.0)
        assert arrived.message_id == message_id
    finally:
        await after.stop()


async def test_a_receipt_refused_for_now_at_the_stop_is_kept(tmp_path: Path,
                                                             clients: Callable[..., EsmeClient]) -> None:
    """A receipt the ESME answered with a transient error waits out the retry delay outside the
    queue; a stop then still saves it."""
    before = make_sandbox(tmp_path)
    await before.start()
    before.set_rule("", latency_ms=0)
    refused: list[object] = []

    async def busy(pdu: object) -> int:
        refused.append(pdu)
        return CommandStatus.ESME_RX_T_APPN

    esme = clients(before, on_deliver_sm=busy)
    await esme.start()
    [message_id] = await submit_text(esme, FAST, "refused for now")
    async with asyncio.timeout(5):
        while not refused:
            await asyncio.sleep(0.01)
    await before.stop()  # within the retry delay
    await esme.aclose(1.0)

    after = make_sandbox(tmp_path)
    await after.start()
    try:
        inbox = Inbox()
        await clients(after, on_deliver_sm=inbox).start()
        [pdu] = await inbox.wait(1)
        assert pdu.tlv_str(Tag.RECEIPTED_MESSAGE_ID) == message_id
    finally:
        await after.stop()


@pytest.mark.parametrize("content", [
    "{not json",
    json.dumps({"format": "tidings-sandbox-state", "version": 99, "handsets": []}),
    json.dumps({"format": "something else", "version": 1}),
    json.dumps({"format": "tidings-sandbox-state", "version": 1, "saved_at_ms": 0, "handsets": [{"number": 5}],
                "smscs": {}, "voice": {"rules": [], "calls": [], "next_call": 1}}),
    # Readable handsets, then an SMSC that is not: nothing of it is taken.
    json.dumps({"format": "tidings-sandbox-state", "version": 1, "saved_at_ms": 0, "handsets": [
        {"number": FAST, "country": "SE", "valid": True, "reachable": False, "line_type": "mobile",
         "capabilities": ["SMS"], "ported": False, "carrier": None, "as_made": False, "inbox": [], "sent": []}],
        "smscs": {"": {"message_ids": "not ids"}}, "voice": {"rules": [], "calls": [], "next_call": 1}}),
])
async def test_an_unreadable_state_is_set_aside_and_the_sandbox_starts_empty(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str) -> None:
    path = state_path(str(tmp_path))
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as fh:
        fh.write(content)
    world = make_sandbox(tmp_path)
    with caplog.at_level(logging.WARNING, logger="tidings.sandbox.state"):
        await world.start()
    try:
        assert any("cannot be read" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
        assert world.handsets.all() == []
        assert not os.path.exists(path)
        with open(path + ".unreadable") as fh:
            assert fh.read() == content
        await world.send_mo(FAST, REPLY_TO, "the sandbox works")
    finally:
        await world.stop()
    assert os.path.exists(path)  # this run's state, saved at its stop


async def test_a_start_that_fails_leaves_the_saved_state_alone(tmp_path: Path) -> None:
    first = make_sandbox(tmp_path)
    await first.start()
    await first.send_mo(FAST, REPLY_TO, "kept for the next start")
    await first.stop()
    path = state_path(str(tmp_path))
    with open(path) as fh:
        saved = fh.read()

    holder = make_sandbox(tmp_path / "other")
    await holder.start()
    try:
        clash = make_sandbox(tmp_path)
        with pytest.raises(OSError):
            await clash.start(port=holder.port)  # the port is taken
        await clash.stop()
    finally:
        await holder.stop()
    with open(path) as fh:
        assert fh.read() == saved
