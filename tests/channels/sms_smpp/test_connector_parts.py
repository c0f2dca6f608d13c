"""The SMPP connector and a message's parts: a part that cannot be encoded fails the message for
good and holds no window slot; a long message the SMSC took in part is retried with its other
parts only, under the same reference; concatenation references cycle through 0-255; a part taken
without a message_id counts as sent. Through `send` and through `submit`, its callback form."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from tidings.channels.base import OutboundSms
from tidings.channels.sms_smpp.connector import SmppConnector
from tidings.channels.sms_smpp.parts import NO_MESSAGE_ID, PartlySent, Taken
from tidings.config import SmppConnectionSettings
from tidings.core.errors import PermanentDeliveryError, TransientDeliveryError
from tidings.core.statuses import Status, status_for_refusal
from tidings.runtime.context import now_ms
from tidings.sandbox.world import Sandbox
from tidings.smpp import ServerSession, SmppServer, SubmitSm
from tidings.smpp.constants import CommandStatus
from tidings.smpp.sar import numbered_text
from tidings.smpp.testing import RecordingHandler
from tidings.workers.writer import OutcomeWriter

from .conftest import sandbox_connection

S = CommandStatus
LONG = "y" * 400  # three GSM parts
Outcome = tuple[list[str] | None, BaseException | None]


def connector(sandbox: Sandbox, writer: OutcomeWriter, **overrides: Any) -> SmppConnector:
    return SmppConnector(sandbox_connection(sandbox, **overrides), writer, now_ms)


async def through(smpp: SmppConnector, how: str, message: OutboundSms) -> Outcome:
    """The message's outcome through `send` or through `submit`, as (ids, error)."""
    if how == "send":
        try:
            return await smpp.send(message), None
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            return None, exc
    answered: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
    smpp.submit(message, lambda ids, error: answered.set_result((ids, error)))
    return await asyncio.wait_for(answered, 5.0)


@pytest.mark.parametrize("how", ["send", "submit"])
async def test_a_sender_too_long_for_source_addr_fails_for_good_and_frees_the_window(
    sandbox: Sandbox, writer: OutcomeWriter, how: str
) -> None:
    """A 24-character sender (a default sender of the sender policy, say) cannot go in the 20
    octets of source_addr: Failed with ESME_RINVSRCADR's code, not retried; more of them than
    the window holds leave it free for the next message."""
    smpp = connector(sandbox, writer, window=2)
    await smpp.start()
    try:
        for i in range(5):
            ids, error = await through(smpp, how, OutboundSms(i, "X" * 24, "+46701111333", "hi"))
            assert ids is None and isinstance(error, PermanentDeliveryError)
            assert error.code == S.ESME_RINVSRCADR and status_for_refusal(error.code) is Status.FAILED
        ids, error = await through(smpp, how, OutboundSms(9, "+46700000000", "+46701111333", "after"))
        assert error is None and ids
    finally:
        await smpp.aclose()
    assert [m.body for m in await sandbox.wait_for_messages("+46701111333", 1)] == ["after"]


class Refusing:
    """Wraps the sandbox SMSC's answer to submit_sm: refuses the parts named in `refuse` once
    each with their status, and records every part it sees and the id each taken one got."""

    def __init__(self, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, refuse: dict[int, int]) -> None:
        self.refuse = dict(refuse)
        self.seen: list[tuple[int, int, int]] = []  # (reference, sequence, status)
        self.taken: dict[int, str] = {}  # sequence -> message id
        accept = sandbox.smsc._accept

        def answer(session: ServerSession, pdu: SubmitSm) -> tuple[int, str]:
            udh, _ = numbered_text(pdu)
            assert udh is not None
            status = self.refuse.pop(udh.sequence, None)
            if status is not None:
                self.seen.append((udh.reference, udh.sequence, status))
                return status, ""
            status, message_id = accept(session, pdu)
            self.seen.append((udh.reference, udh.sequence, status))
            self.taken[udh.sequence] = message_id
            return status, message_id

        monkeypatch.setattr(sandbox.smsc, "_accept", answer)


@pytest.mark.parametrize("how", ["send", "submit"])
async def test_a_long_message_taken_in_part_sends_only_its_other_parts_again_under_the_same_reference(
    sandbox: Sandbox, writer: OutcomeWriter, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Parts 1 and 3 taken, part 2 throttled: the message is tried again later (transient),
    and the retry sends part 2 alone, with the same reference. The message's ids are then every
    part's, as the SMSC gave them (so every receipt matches), and the handset gets one message."""
    smsc = Refusing(sandbox, monkeypatch, {2: S.ESME_RTHROTTLED})
    smpp = connector(sandbox, writer)
    await smpp.start()
    message = OutboundSms(1, "+46700000000", "+46701111444", LONG)
    try:
        ids, error = await through(smpp, how, message)
        assert ids is None and isinstance(error, TransientDeliveryError)
        assert len(smpp.partly_sent) == 1
        ids, error = await through(smpp, how, message)
    finally:
        await smpp.aclose()
    assert error is None and ids == [smsc.taken[1], smsc.taken[2], smsc.taken[3]]
    assert len({seen[0] for seen in smsc.seen}) == 1  # one reference, on both attempts
    assert sorted(seen[1:] for seen in smsc.seen) == [(1, S.ESME_ROK), (2, S.ESME_ROK), (2, S.ESME_RTHROTTLED),
                                                      (3, S.ESME_ROK)]
    assert len(smpp.partly_sent) == 0
    (received,) = await sandbox.wait_for_messages("+46701111444", 1)
    assert (received.body, received.segments) == (LONG, 3)
    await asyncio.sleep(0.2)
    assert len(sandbox.messages_for("+46701111444")) == 1


async def test_a_long_message_whose_later_part_is_refused_for_good_fails(
    sandbox: Sandbox, writer: OutcomeWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    Refusing(sandbox, monkeypatch, {2: S.ESME_RINVDSTADR})
    smpp = connector(sandbox, writer)
    await smpp.start()
    try:
        ids, error = await through(smpp, "submit", OutboundSms(1, "+46700000000", "+46701111555", LONG))
    finally:
        await smpp.aclose()
    assert ids is None and isinstance(error, PermanentDeliveryError) and error.code == S.ESME_RINVDSTADR
    assert len(smpp.partly_sent) == 0  # nothing left to send again


def test_concatenation_references_cycle_through_every_value(
    sandbox: Sandbox, writer: OutcomeWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Drawn once per connection, then counted on: 256 long messages in a row carry 256
    different references, whatever the draw."""
    draws = iter([255, 0])
    monkeypatch.setattr(random, "randrange", lambda *_: next(draws))
    smpp = connector(sandbox, writer)
    references = []
    for i in range(256):
        pdus, _ = smpp._plan(OutboundSms(i, "+46700000000", "+46701111666", LONG))
        udh, _ = numbered_text(pdus[0])
        assert udh is not None
        references.append(udh.reference)
    assert references[:2] == [255, 0] and sorted(references) == list(range(256))


class NoIds(RecordingHandler):
    async def handle_submit_sm(self, session: ServerSession, pdu: SubmitSm) -> tuple[int, str]:
        await super().handle_submit_sm(session, pdu)
        return S.ESME_ROK, ""


@pytest.mark.parametrize("how", ["send", "submit"])
async def test_parts_taken_without_a_message_id_count_as_sent(writer: OutcomeWriter, how: str) -> None:
    """An SMSC that answers ESME_ROK with an empty message_id took the message: it is reported
    sent (not tried again, which would send it twice), each part under an id of its own that
    no receipt will name."""
    handler = NoIds()
    async with SmppServer(handler) as server:
        settings = SmppConnectionSettings(name="noid", host="127.0.0.1", port=server.port, system_id="a",
                                          password="b")
        smpp = SmppConnector(settings, writer, now_ms)
        await smpp.start()
        try:
            ids, error = await through(smpp, how, OutboundSms(1, "+46700000000", "+46701111777", LONG))
        finally:
            await smpp.aclose()
    assert error is None and ids is not None and len(set(ids)) == 3
    assert all(smsc_id.startswith(NO_MESSAGE_ID) for smsc_id in ids)
    assert len(handler.submitted) == 3




def test_partly_sent_messages_are_kept_a_while_and_a_bounded_number() -> None:
    kept = PartlySent(keep_ms=1000, limit=2)
    taken = Taken(reference=7, parts=3, ids={0: "a"})
    kept.put(1, taken, now_ms=0)
    assert kept.take(1, now_ms=1000) == taken and kept.take(1, now_ms=1000) is None  # taken once
    kept.put(1, taken, now_ms=0)
    assert kept.take(1, now_ms=1001) is None  # too late: the whole message goes again
    for delivery_id in (1, 2, 3):
        kept.put(delivery_id, taken, now_ms=10)
    assert len(kept) == 2 and kept.take(1, now_ms=10) is None  # the oldest made room
