"""The sandbox SMSC driven by our EsmeClient over real sockets: binds, MT, receipts, rules, validity, MO,
queues."""

from __future__ import annotations

import asyncio
import contextlib
import datetime

import pytest

from tidings.core.encoding import decode, segment, split_udh
from tidings.sandbox import Sandbox
from tidings.smpp import BindError, CommandStatus, CommandStatusError, EsmeClient, MessageState, Tag
from tidings.smpp.constants import EsmClass, Npi, Ton
from tidings.smpp.pdu import BindTransceiver, DeliverSm, Pdu, SubmitSm, Unbind, UnbindResp
from tidings.smpp.receipt import receipt_from_pdu
from tidings.smpp.testing import RawPeer
from tidings.smpp.times import relative_time

from .conftest import PASSWORD, SYSTEM_ID, ClientFactory, Inbox

HANDSET = "+46701234567"
SENDER = "Tidings"


async def submit_text(
    client: EsmeClient, to: str, text: str, *, sender: str = SENDER, reference: int = 7,
    registered_delivery: int = 1, data_coding: int | None = None, validity_period: str = "",
) -> list[str]:
    encoded = segment(text, reference=reference)
    ids = []
    for part in encoded.parts:
        response = await client.submit(SubmitSm(
            source_addr=sender.removeprefix("+"),
            source_addr_ton=Ton.INTERNATIONAL if sender.startswith("+") else Ton.ALPHANUMERIC,
            destination_addr=to.removeprefix("+"), dest_addr_ton=Ton.INTERNATIONAL, dest_addr_npi=Npi.ISDN,
            esm_class=EsmClass.UDHI if encoded.udhi else 0, registered_delivery=registered_delivery,
            data_coding=encoded.data_coding if data_coding is None else data_coding, short_message=part,
            validity_period=validity_period,
        ))
        ids.append(response.message_id)
    return ids


async def test_bind_with_right_password(client: EsmeClient) -> None:
    assert client.bound


@pytest.mark.parametrize(("system_id", "password", "status"), [
    (SYSTEM_ID, "wrong", CommandStatus.ESME_RINVPASWD),
    ("nobody", PASSWORD, CommandStatus.ESME_RINVSYSID),
])
async def test_bind_refused(make_client: ClientFactory, system_id: str, password: str, status: int) -> None:
    esme = make_client(system_id=system_id, password=password)
    with pytest.raises(BindError) as info:
        await esme.start()
    assert info.value.command_status == status


async def test_gsm_message_reaches_handset_with_receipt(sandbox: Sandbox, client: EsmeClient, inbox: Inbox) -> None:
    [message_id] = await submit_text(client, HANDSET, "Hello {world} €5")
    [received] = await sandbox.wait_for_messages(HANDSET, 1)
    assert (received.sender, received.recipient, received.body) == (SENDER, HANDSET, "Hello {world} €5")
    assert (received.encoding, received.segments, received.flash, received.message_id) == ("GSM", 1, False, message_id)
    [pdu] = await inbox.wait(1)
    assert pdu.esm_class == EsmClass.DELIVERY_RECEIPT
    assert pdu.tlv_str(Tag.RECEIPTED_MESSAGE_ID) == message_id
    assert pdu.tlv_int(Tag.MESSAGE_STATE) == MessageState.DELIVERED
    assert (pdu.source_addr, pdu.source_addr_ton, pdu.destination_addr, pdu.dest_addr_ton) == (
        HANDSET[1:], Ton.INTERNATIONAL, SENDER, Ton.ALPHANUMERIC)
    text = pdu.short_message.decode("latin-1")
    assert text.startswith(f"id:{message_id} sub:001 dlvrd:001 submit date:")
    assert " stat:DELIVRD err:000 text:Hello {world} ?5" in text  # the text field is Latin-1
    receipt = receipt_from_pdu(pdu)
    assert receipt is not None and receipt.stat == "DELIVRD" and receipt.submit_date is not None


async def test_message_ids_are_unique(client: EsmeClient) -> None:
    ids = [i for n in range(20) for i in await submit_text(client, HANDSET, f"m{n}")]
    assert len(set(ids)) == 20


async def test_long_gsm_is_reassembled_with_one_receipt_per_segment(
    sandbox: Sandbox, client: EsmeClient, inbox: Inbox,
) -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(400)) + "[end]"
    ids = await submit_text(client, HANDSET, text)
    assert len(ids) == 3
    [received] = await sandbox.wait_for_messages(HANDSET, 1)
    assert (received.body, received.segments, received.message_id) == (text, 3, ids[0])
    pdus = await inbox.wait(3)
    assert sorted(pdu.tlv_str(Tag.RECEIPTED_MESSAGE_ID) or "" for pdu in pdus) == sorted(ids)


@pytest.mark.parametrize("text", ["Привет, мир", "Emoji 😀 " * 20, "日本語のテキスト" * 10])
async def test_ucs2_and_emoji_reassembled(sandbox: Sandbox, client: EsmeClient, text: str) -> None:
    await submit_text(client, HANDSET, text)
    [received] = await sandbox.wait_for_messages(HANDSET, 1)
    assert received.body == text
    assert received.encoding == "UCS2"


async def test_receipt_text_of_unicode_message_is_latin1_safe(client: EsmeClient, inbox: Inbox) -> None:
    [message_id] = await submit_text(client, HANDSET, "Привет")
    [pdu] = await inbox.wait(1)
    assert pdu.tlv_str(Tag.RECEIPTED_MESSAGE_ID) == message_id
    assert pdu.short_message.decode("latin-1").endswith("text:??????")


async def test_flash_message_is_marked(sandbox: Sandbox, client: EsmeClient) -> None:
    await submit_text(client, HANDSET, "Flash!", data_coding=0x10)
    [received] = await sandbox.wait_for_messages(HANDSET, 1)
    assert received.flash and received.body == "Flash!" and received.encoding == "GSM"


async def test_no_receipt_unless_asked(sandbox: Sandbox, client: EsmeClient, inbox: Inbox) -> None:
    await submit_text(client, HANDSET, "quiet", registered_delivery=0)
    await sandbox.wait_for_messages(HANDSET, 1)
    await submit_text(client, HANDSET, "loud")
    await inbox.wait(1)
    await asyncio.sleep(0.05)
    assert len(inbox.pdus) == 1


async def test_unparseable_destination_is_refused(client: EsmeClient) -> None:
    for destination in ("not-a-number", "+999123456"):
        with pytest.raises(CommandStatusError) as info:
            await submit_text(client, destination, "x")
        assert info.value.command_status == CommandStatus.ESME_RINVDSTADR


@pytest.mark.parametrize(("number", "setup", "error"), [
    ("+4670123", None, 1),                                   # parses, but not a valid number
    (HANDSET, {"reachable": False}, 27),
    ("+4686781234", None, 21),                               # a Stockholm landline
])
async def test_undeliverable_gets_undeliv_receipt(
    sandbox: Sandbox, client: EsmeClient, inbox: Inbox, number: str, setup: dict[str, bool] | None, error: int,
) -> None:
    if setup:
        for name, value in setup.items():
            setattr(sandbox.handset(number), name, value)
    [message_id] = await submit_text(client, number, "hello")
    [pdu] = await inbox.wait(1)
    receipt = receipt_from_pdu(pdu)
    assert receipt is not None
    assert (receipt.message_id, receipt.stat, receipt.message_state) == (message_id, "UNDELIV", MessageState.UNDELIVERABLE)
    assert receipt.error == f"{error:03d}" and receipt.network_error == (3, error)
    assert receipt.delivered == 0
    assert sandbox.messages_for(number) == []


async def test_latency_delays_delivery(sandbox: Sandbox, client: EsmeClient, inbox: Inbox) -> None:
    sandbox.set_rule("+4670", latency_ms=(200, 200))
    started = asyncio.get_running_loop().time()
    await submit_text(client, HANDSET, "slow")
    await sandbox.wait_for_messages(HANDSET, 1)
    assert asyncio.get_running_loop().time() - started >= 0.19
    await inbox.wait(1)


async def outcomes(sandbox: Sandbox, client: EsmeClient, inbox: Inbox, count: int) -> list[str]:
    """Submit `count` messages to +4670… numbers; the receipt stat (or 'LOST') of each."""
    ids = [(await submit_text(client, f"+467012345{n:02d}", f"n{n}"))[0] for n in range(count)]
    await asyncio.sleep(0.1)
    by_id = {}
    for pdu in inbox.pdus:
        receipt = receipt_from_pdu(pdu)
        assert receipt is not None
        by_id[receipt.message_id] = receipt.stat
    return [by_id.get(message_id, "LOST") for message_id in ids]


async def test_failure_rate_is_seeded(sandbox: Sandbox, client: EsmeClient, inbox: Inbox) -> None:
    sandbox.set_rule("+4670", latency_ms=0, failure_rate=0.5, error_code=88)
    stats = await outcomes(sandbox, client, inbox, 40)
    assert 8 <= stats.count("UNDELIV") <= 32
    assert stats.count("UNDELIV") + stats.count("DELIVRD") == 40
    failed = [receipt_from_pdu(p) for p in inbox.pdus if receipt_from_pdu(p).stat == "UNDELIV"]  # type: ignore[union-attr]
    assert all(r is not None and r.network_error == (3, 88) for r in failed)

    again = Sandbox(seed=1234)
    again.add_account(SYSTEM_ID, PASSWORD)
    again.set_rule("", latency_ms=0)
    again.set_rule("+4670", latency_ms=0, failure_rate=0.5, error_code=88)
    await again.start()
    other_inbox = Inbox()
    other = EsmeClient("127.0.0.1", again.port, SYSTEM_ID, PASSWORD, on_deliver_sm=other_inbox)
    try:
        await other.start()
        assert await outcomes(again, other, other_inbox, 40) == stats
    finally:
        await other.aclose(1.0)
        await again.stop()


async def test_receipt_loss_rate(sandbox: Sandbox, client: EsmeClient, inbox: Inbox) -> None:
    sandbox.set_rule("+4670", latency_ms=0, receipt_loss_rate=1.0)
    sandbox.set_rule("+46701234599", latency_ms=0)
    stats = await outcomes(sandbox, client, inbox, 3)
    assert stats == ["LOST", "LOST", "LOST"]
    assert len(sandbox.messages_for("+46701234500")) == 1  # delivered all the same
    await submit_text(client, "+46701234599", "longest prefix wins")
    await inbox.wait(1)


async def test_throttle_and_reject(sandbox: Sandbox, client: EsmeClient) -> None:
    sandbox.set_rule("+4670", throttle_rate=1.0)
    sandbox.set_rule("+4671", reject_rate=1.0)
    with pytest.raises(CommandStatusError) as throttled:
        await submit_text(client, HANDSET, "x")
    assert throttled.value.command_status == CommandStatus.ESME_RTHROTTLED and throttled.value.transient
    with pytest.raises(CommandStatusError) as rejected:
        await submit_text(client, "+46711234567", "x")
    assert rejected.value.command_status == CommandStatus.ESME_RSUBMITFAIL and not rejected.value.transient


async def test_partial_throttling_is_seeded(sandbox: Sandbox, client: EsmeClient) -> None:
    sandbox.set_rule("+4670", latency_ms=0, throttle_rate=0.5)
    results = []
    for n in range(30):
        try:
            await submit_text(client, HANDSET, f"x{n}")
            results.append(True)
        except CommandStatusError as exc:
            assert exc.command_status == CommandStatus.ESME_RTHROTTLED
            results.append(False)
    assert 5 <= results.count(False) <= 25
    await sandbox.wait_for_messages(HANDSET, results.count(True))


async def test_receipts_wait_for_a_bind(sandbox: Sandbox, make_client: ClientFactory) -> None:
    sender = make_client(bind="transmitter")
    await sender.start()
    ids = await submit_text(sender, HANDSET, "while nobody listens")
    ids += await submit_text(sender, HANDSET, "a" * 200, reference=9)
    await sandbox.wait_for_messages(HANDSET, 2)
    await asyncio.sleep(0.05)
    assert len(sandbox.smsc.outboxes[SYSTEM_ID]) == 3
    inbox = Inbox()
    receiver = make_client(bind="receiver", on_deliver_sm=inbox)
    await receiver.start()
    pdus = await inbox.wait(3)
    assert sorted(p.tlv_str(Tag.RECEIPTED_MESSAGE_ID) or "" for p in pdus) == sorted(ids)


async def test_receipt_redelivered_after_transient_refusal(sandbox: Sandbox, make_client: ClientFactory) -> None:
    answers = [CommandStatus.ESME_RX_T_APPN, CommandStatus.ESME_ROK]
    seen = []

    async def flaky(pdu: object) -> int:
        seen.append(pdu)
        return answers.pop(0) if answers else CommandStatus.ESME_ROK

    esme = make_client(on_deliver_sm=flaky)
    await esme.start()
    await submit_text(esme, HANDSET, "retry me")
    async with asyncio.timeout(5):
        while len(seen) < 2:
            await asyncio.sleep(0.02)
    assert seen[0].tlv_str(Tag.RECEIPTED_MESSAGE_ID) == seen[1].tlv_str(Tag.RECEIPTED_MESSAGE_ID)  # type: ignore[attr-defined]


async def test_mo_arrives_as_deliver_sm(sandbox: Sandbox, client: EsmeClient, inbox: Inbox) -> None:
    message_id = await sandbox.send_mo(HANDSET, "+46700000000", "Hi there")
    [pdu] = await inbox.wait(1)
    assert (pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi) == (HANDSET[1:], Ton.INTERNATIONAL, Npi.ISDN)
    assert (pdu.destination_addr, pdu.dest_addr_ton) == ("46700000000", Ton.INTERNATIONAL)
    assert pdu.esm_class == 0 and pdu.data_coding == 0
    assert receipt_from_pdu(pdu) is None
    assert decode(pdu.short_message, pdu.data_coding) == "Hi there"
    [sent] = sandbox.handset(HANDSET).sent
    assert (sent.message_id, sent.body, sent.recipient) == (message_id, "Hi there", "+46700000000")


@pytest.mark.parametrize(("text", "data_coding", "parts"), [
    ("word " * 70, 0x00, 3), ("Здравствуйте! 😀 " * 10, 0x08, 3),
])
async def test_long_and_unicode_mo(
    sandbox: Sandbox, client: EsmeClient, inbox: Inbox, text: str, data_coding: int, parts: int,
) -> None:
    await sandbox.send_mo(HANDSET, "Tidings", text)
    pdus = await inbox.wait(parts)
    assert len(pdus) == parts
    assert all(p.esm_class & EsmClass.UDHI and p.data_coding == data_coding for p in pdus)
    assert all(p.destination_addr == "Tidings" and p.dest_addr_ton == Ton.ALPHANUMERIC for p in pdus)
    pieces = {}
    for pdu in pdus:
        udh, payload = split_udh(pdu.short_message, pdu.esm_class)
        assert udh is not None and udh.total == parts
        pieces[udh.sequence] = decode(payload, pdu.data_coding)
    assert "".join(pieces[n] for n in sorted(pieces)) == text


async def test_mo_queued_until_bind(sandbox: Sandbox, make_client: ClientFactory) -> None:
    await sandbox.send_mo(HANDSET, "+46700000000", "first")
    await sandbox.send_mo(HANDSET, "+46700000000", "second " * 30)
    inbox = Inbox()
    esme = make_client(on_deliver_sm=inbox)
    await esme.start()
    pdus = await inbox.wait(3)
    assert decode(pdus[0].short_message, 0) == "first"


async def test_receipts_survive_a_reconnect(sandbox: Sandbox, make_client: ClientFactory) -> None:
    first = make_client()
    await first.start()
    sandbox.set_rule("+4670", latency_ms=300)
    [message_id] = await submit_text(first, HANDSET, "goodbye")
    await first.aclose(1.0)
    await sandbox.wait_for_messages(HANDSET, 1)
    inbox = Inbox()
    second = make_client(on_deliver_sm=inbox)
    await second.start()
    [pdu] = await inbox.wait(1)
    assert pdu.tlv_str(Tag.RECEIPTED_MESSAGE_ID) == message_id


async def test_other_accounts_do_not_get_receipts(sandbox: Sandbox, make_client: ClientFactory, client: EsmeClient,
                                                  inbox: Inbox) -> None:
    sandbox.add_account("other", "pw")
    other_inbox = Inbox()
    other = make_client(system_id="other", password="pw", on_deliver_sm=other_inbox)
    await other.start()
    await submit_text(client, HANDSET, "mine")
    await inbox.wait(1)
    await asyncio.sleep(0.05)
    assert other_inbox.pdus == []


class SlowEsme(Inbox):
    """Takes its receipts only once `go` is set: its writer lags its sender."""

    def __init__(self) -> None:
        super().__init__()
        self.go = asyncio.Event()

    async def __call__(self, pdu: DeliverSm) -> int:
        await self.go.wait()
        return await super().__call__(pdu)


async def _fill_outbox(sandbox: Sandbox, esme: EsmeClient, limit: int) -> None:
    """Submit until `limit` receipts queue behind the SMSC's window of unanswered ones."""
    outbox = sandbox.smsc.outboxes[SYSTEM_ID]
    outbox.backlog_limit = limit
    async with asyncio.timeout(5):
        while len(outbox) < limit:
            await submit_text(esme, HANDSET, "fill")
            await asyncio.sleep(0.01)


async def test_submissions_are_held_while_a_slow_esme_owes_too_many_receipts(
        sandbox: Sandbox, make_client: ClientFactory) -> None:
    slow = SlowEsme()
    esme = make_client(on_deliver_sm=slow)
    await esme.start()
    await _fill_outbox(sandbox, esme, limit=4)
    outbox = sandbox.smsc.outboxes[SYSTEM_ID]
    held = asyncio.create_task(submit_text(esme, HANDSET, "held"))
    later = asyncio.create_task(submit_text(esme, HANDSET, "after it"))
    await asyncio.sleep(0.3)
    assert not held.done() and not later.done() and outbox.held == 2
    slow.go.set()  # the ESME catches up: the queue drains and the SMSC answers, in order
    async with asyncio.timeout(5):
        [held_id], [later_id] = await held, await later
    assert int(held_id, 16) < int(later_id, 16)
    bodies = [m.body for m in await sandbox.wait_for_messages(HANDSET, 2)]
    assert bodies[-2:] == ["held", "after it"]


async def test_a_held_submission_is_answered_after_the_hold_limit(sandbox: Sandbox, make_client: ClientFactory) -> None:
    slow = SlowEsme()
    esme = make_client(on_deliver_sm=slow)
    await esme.start()
    await _fill_outbox(sandbox, esme, limit=2)
    sandbox.smsc.outboxes[SYSTEM_ID].hold_limit_s = 0.2
    started = asyncio.get_running_loop().time()
    [message_id] = await submit_text(esme, HANDSET, "not forever")
    assert message_id and asyncio.get_running_loop().time() - started >= 0.2
    slow.go.set()


async def test_receipts_waiting_for_a_bind_hold_no_submission(sandbox: Sandbox, make_client: ClientFactory) -> None:
    sandbox.smsc.outboxes[SYSTEM_ID].backlog_limit = 1
    sender = make_client(bind="transmitter")
    await sender.start()
    for text in ("one", "two", "three"):
        async with asyncio.timeout(1):
            await submit_text(sender, HANDSET, text)
        await sandbox.wait_for_messages(HANDSET, 1)
    await asyncio.sleep(0.05)
    assert len(sandbox.smsc.outboxes[SYSTEM_ID]) == 3 and sandbox.smsc.outboxes[SYSTEM_ID].held == 0


async def test_receipts_take_turns_between_the_accounts_receiving_binds(
        sandbox: Sandbox, make_client: ClientFactory) -> None:
    """Two binds of one account share its receipts; each receipt reaches exactly one of them."""
    sandbox.set_rule("+4670", latency_ms=100)  # both binds are up before the first receipt is due
    first_inbox, second_inbox = Inbox(), Inbox()
    first = make_client(on_deliver_sm=first_inbox)
    second = make_client(on_deliver_sm=second_inbox)
    await first.start()
    await second.start()
    ids = []
    for i in range(20):
        ids += await submit_text(first, HANDSET, f"turn {i}")
    async with asyncio.timeout(5):
        while len(first_inbox.pdus) + len(second_inbox.pdus) < 20:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    receipted = [p.tlv_str(Tag.RECEIPTED_MESSAGE_ID) for p in first_inbox.pdus + second_inbox.pdus]
    assert sorted(receipted) == sorted(ids)  # type: ignore[type-var]
    assert first_inbox.pdus and second_inbox.pdus


async def test_an_esme_that_answers_nothing_holds_only_a_window_of_receipts(
        sandbox: Sandbox, make_client: ClientFactory) -> None:
    """Receipts beyond the SMSC session's window wait (in the outbox, or for a window slot), and
    go once the ESME answers."""
    slow = SlowEsme()
    esme = make_client(on_deliver_sm=slow)
    await esme.start()
    (session,) = [s for s in sandbox._sessions() if s.system_id == SYSTEM_ID]
    window = session.config.window
    for i in range(window + 5):
        await submit_text(esme, HANDSET, f"r{i}")
    outbox = sandbox.smsc.outboxes[SYSTEM_ID]
    async with asyncio.timeout(5):
        while session.in_flight < window:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    assert session.in_flight == window and len(outbox) >= 1 and len(slow.pdus) == 0
    slow.go.set()
    async with asyncio.timeout(5):
        while len(slow.pdus) < window + 5 or len(outbox):  # the ESME has each before the SMSC has its answer
            await asyncio.sleep(0.01)
    assert outbox.delivered >= window + 5


def absolute(at: datetime.datetime, quarters: int = 0) -> str:
    """`at` (UTC) as an absolute SMPP time in the zone `quarters` quarter hours east of UTC."""
    local = at + datetime.timedelta(minutes=15 * quarters)
    return local.strftime("%y%m%d%H%M%S") + f"{local.microsecond // 100_000}{abs(quarters):02d}" + (
        "-" if quarters < 0 else "+")


async def test_a_message_still_on_its_way_when_its_validity_ends_expires(
    sandbox: Sandbox, client: EsmeClient, inbox: Inbox,
) -> None:
    sandbox.set_rule("+4670", latency_ms=2500)
    loop = asyncio.get_running_loop()
    started = loop.time()
    [message_id] = await submit_text(client, HANDSET, "too slow", validity_period=relative_time(1))
    [pdu] = await inbox.wait(1)
    elapsed = loop.time() - started
    assert 0.9 <= elapsed < 2.0  # when the validity ends, not after the latency
    receipt = receipt_from_pdu(pdu)
    assert receipt is not None
    assert (receipt.message_id, receipt.stat, receipt.message_state) == (message_id, "EXPIRED", MessageState.EXPIRED)
    assert (receipt.delivered, receipt.error, receipt.network_error) == (0, "000", None)
    await asyncio.sleep(2.7 - (loop.time() - started))
    assert sandbox.messages_for(HANDSET) == [] and len(inbox.pdus) == 1


async def test_a_message_delivered_within_its_validity_is_delivered(
    sandbox: Sandbox, client: EsmeClient, inbox: Inbox,
) -> None:
    sandbox.set_rule("+4670", latency_ms=200)
    [message_id] = await submit_text(client, HANDSET, "in time", validity_period=relative_time(2))
    [received] = await sandbox.wait_for_messages(HANDSET, 1)
    assert (received.body, received.message_id) == ("in time", message_id)
    receipt = receipt_from_pdu((await inbox.wait(1))[0])
    assert receipt is not None and (receipt.stat, receipt.message_state) == ("DELIVRD", MessageState.DELIVERED)


async def test_a_long_message_expires_whole_with_a_receipt_per_part(
    sandbox: Sandbox, client: EsmeClient, inbox: Inbox,
) -> None:
    sandbox.set_rule("+4670", latency_ms=(1500, 1500))
    ids = await submit_text(client, HANDSET, "part " * 80, validity_period=relative_time(1))
    assert len(ids) == 3
    pdus = await inbox.wait(3)
    receipts = [receipt_from_pdu(p) for p in pdus]
    assert sorted(r.message_id for r in receipts if r is not None) == sorted(ids)
    assert {(r.stat, r.message_state) for r in receipts if r is not None} == {("EXPIRED", MessageState.EXPIRED)}
    await asyncio.sleep(0.8)
    assert sandbox.messages_for(HANDSET) == []


@pytest.mark.parametrize("quarters", [0, 8, -20])
async def test_an_absolute_validity_is_read_with_its_offset(
    sandbox: Sandbox, client: EsmeClient, inbox: Inbox, quarters: int,
) -> None:
    sandbox.set_rule("+4670", latency_ms=1500)
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    await submit_text(client, HANDSET, "short-lived", validity_period=absolute(now + datetime.timedelta(seconds=0.5),
                                                                               quarters))
    await submit_text(client, "+46701234568", "long-lived", validity_period=absolute(now + datetime.timedelta(hours=1),
                                                                                     quarters))
    stats = sorted((r.stat, r.message_id) for r in (receipt_from_pdu(p) for p in await inbox.wait(2, timeout=5))
                   if r is not None)
    assert [stat for stat, _ in stats] == ["DELIVRD", "EXPIRED"]
    assert sandbox.messages_for(HANDSET) == []
    assert [m.body for m in sandbox.messages_for("+46701234568")] == ["long-lived"]


@pytest.mark.parametrize("validity", ["tomorrow", "000000000001000X", "261399120000000+"])
async def test_an_unreadable_validity_is_refused(sandbox: Sandbox, client: EsmeClient, validity: str) -> None:
    with pytest.raises(CommandStatusError) as info:
        await submit_text(client, HANDSET, "x", validity_period=validity)
    assert info.value.command_status == CommandStatus.ESME_RINVEXPIRY
    assert sandbox.messages_for(HANDSET) == []


async def test_an_esme_that_unbinds_gets_no_deliver_sm_after_it_and_the_rest_at_its_next_bind(
    sandbox: Sandbox, make_client: ClientFactory
) -> None:
    """More MO owed than the SMSC's window (64): the ESME unbinds while a window of them waits for
    its answers. After the unbind_resp the SMSC only waits for those answers and closes — the
    two waiting for the window stay owed, and the next bind gets them."""
    total = 66
    for i in range(total):
        await sandbox.send_mo(HANDSET, "+46700000000", f"mo {i}")
    esme = await RawPeer.connect("127.0.0.1", sandbox.port)
    try:
        await esme.request(BindTransceiver(sequence_number=1, system_id=SYSTEM_ID, password=PASSWORD))
        first = [await esme.read_pdu() for _ in range(64)]
        await esme.send(Unbind(sequence_number=2))
        assert await esme.read_pdu() == UnbindResp(sequence_number=2)
        for pdu in first:
            assert isinstance(pdu, DeliverSm)
            await esme.send(pdu.response(CommandStatus.ESME_ROK))
        after: list[Pdu] = []
        closed = False
        with contextlib.suppress(TimeoutError):
            while not closed:
                try:
                    after.append(await esme.read_pdu(timeout=2.0))
                except asyncio.IncompleteReadError:
                    closed = True
        assert after == [] and closed
    finally:
        await esme.close()
    inbox = Inbox()
    second = make_client(on_deliver_sm=inbox)
    await second.start()
    rest = await inbox.wait(total - 64)
    await asyncio.sleep(0.2)
    texts = [decode(pdu.short_message, pdu.data_coding) for pdu in [*first, *rest] if isinstance(pdu, DeliverSm)]
    assert sorted(texts) == sorted(f"mo {i}" for i in range(total))
