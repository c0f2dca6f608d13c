"""The SMPP connector against the sandbox SMSC: throughput caps hold for messages with more
parts than the bucket's burst, and submit_sm refusals map to transient or permanent errors —
through `send` and through `submit`, its callback form."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from tidings.channels.base import OutboundSms
from tidings.channels.sms_smpp.connector import SmppConnector
from tidings.core.errors import ExpiredBeforeSending, PermanentDeliveryError, TransientDeliveryError
from tidings.runtime.context import now_ms
from tidings.sandbox.world import Sandbox
from tidings.smpp.constants import CommandStatus
from tidings.workers.writer import OutcomeWriter

from .conftest import sandbox_connection


def connector(sandbox: Sandbox, writer: OutcomeWriter, **overrides: object) -> SmppConnector:
    return SmppConnector(sandbox_connection(sandbox, **overrides), writer, now_ms)


async def test_a_long_message_passes_a_cap_smaller_than_its_parts(sandbox: Sandbox, writer: OutcomeWriter) -> None:
    smpp = connector(sandbox, writer, throughput=5.0)
    await smpp.start()
    try:
        started = time.monotonic()
        ids = []
        for i in range(3):  # 3 messages x 2 parts at 5 parts/s: ~1 s after the first burst
            ids += await smpp.send(OutboundSms(i, "+46700000000", "+46701111222", "x" * 200))
        elapsed = time.monotonic() - started
    finally:
        await smpp.aclose()
    assert len(ids) == 6
    assert 0.7 <= elapsed < 3.0
    assert len(await sandbox.wait_for_messages("+46701111222", 3)) == 3


async def test_refusals_map_to_transient_and_permanent(sandbox: Sandbox, writer: OutcomeWriter) -> None:
    smpp = connector(sandbox, writer)
    await smpp.start()
    try:
        sandbox.set_rule("+4670222", throttle_rate=1.0)
        with pytest.raises(TransientDeliveryError):
            await smpp.send(OutboundSms(1, "+46700000000", "+46702223333", "hi"))
        sandbox.set_rule("+4670333", reject_rate=1.0)
        with pytest.raises(PermanentDeliveryError) as refused:
            await smpp.send(OutboundSms(2, "+46700000000", "+46703334444", "hi"))
        assert refused.value.code > 0
        # The SMSC's bind state (a submit that crossed its unbind): the message goes again later.
        sandbox.set_rule("+4670444", reject_rate=1.0, reject_status=CommandStatus.ESME_RINVBNDSTS)
        with pytest.raises(TransientDeliveryError):
            await smpp.send(OutboundSms(3, "+46700000000", "+46704445555", "hi"))
    finally:
        await smpp.aclose()


class Outcomes:
    """The answers `SmppConnector.submit` hands to its callbacks, by message."""

    def __init__(self) -> None:
        self.by_id: dict[int, list[tuple[list[str] | None, BaseException | None]]] = {}

    def callback(self, delivery_id: int) -> Callable[[list[str] | None, BaseException | None], None]:
        self.by_id[delivery_id] = []
        return lambda ids, error: self.by_id[delivery_id].append((ids, error))

    async def all_in(self, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while any(not answers for answers in self.by_id.values()):
                await asyncio.sleep(0.01)


async def test_submit_without_a_coroutine_answers_each_message_once(sandbox: Sandbox, writer: OutcomeWriter) -> None:
    """A claim's messages handed over at once, more than the window holds: every message gets
    its parts' ids (a long one all of its parts, in order) or the refusal `send` would raise."""
    smpp = connector(sandbox, writer, window=4)
    await smpp.start()
    outcomes = Outcomes()
    try:
        sandbox.set_rule("+4670333", reject_rate=1.0)
        sandbox.set_rule("+4670222", throttle_rate=1.0)
        for i in range(20):
            smpp.submit(OutboundSms(i, "+46700000000", f"+467011{i:05d}", f"message {i}"), outcomes.callback(i))
        smpp.submit(OutboundSms(100, "+46700000000", "+46701111222", "y" * 300), outcomes.callback(100))
        smpp.submit(OutboundSms(101, "+46700000000", "+46703334444", "hi"), outcomes.callback(101))
        smpp.submit(OutboundSms(102, "+46700000000", "+46702223333", "hi"), outcomes.callback(102))
        await outcomes.all_in()
    finally:
        await smpp.aclose()
    for i in range(20):
        ((ids, error),) = outcomes.by_id[i]
        assert error is None and ids is not None and len(ids) == 1
    ((long_ids, error),) = outcomes.by_id[100]
    assert error is None and long_ids is not None and len(long_ids) == 2 and all(long_ids)
    ((_, refused),) = outcomes.by_id[101]
    assert isinstance(refused, PermanentDeliveryError) and refused.code > 0
    ((_, throttled),) = outcomes.by_id[102]
    assert isinstance(throttled, TransientDeliveryError)
    (long_message,) = await sandbox.wait_for_messages("+46701111222", 1)
    assert long_message.body == "y" * 300
    assert len(await sandbox.wait_for_messages("+46701100019", 1)) == 1


async def test_submit_while_not_bound_answers_try_later_at_once(sandbox: Sandbox, writer: OutcomeWriter) -> None:
    smpp = connector(sandbox, writer)  # never started: no bind
    outcomes = Outcomes()
    smpp.submit(OutboundSms(1, "+46700000000", "+46701111222", "hi"), outcomes.callback(1))
    ((ids, error),) = outcomes.by_id[1]
    assert ids is None and isinstance(error, TransientDeliveryError)


async def test_submit_on_a_capped_connection_is_paced(sandbox: Sandbox, writer: OutcomeWriter) -> None:
    smpp = connector(sandbox, writer, throughput=10.0)
    await smpp.start()
    outcomes = Outcomes()
    try:
        started = time.monotonic()
        for i in range(6):  # a burst of one, then 10/s
            smpp.submit(OutboundSms(i, "+46700000000", f"+467012{i:05d}", "capped"), outcomes.callback(i))
        await outcomes.all_in()
        elapsed = time.monotonic() - started
    finally:
        await smpp.aclose()
    assert elapsed >= 0.4
    assert all(answers == [(answers[0][0], None)] and answers[0][0] for answers in outcomes.by_id.values())


async def test_withdrawing_on_a_capped_connection_gives_back_what_waits_for_its_turn(
    sandbox: Sandbox, writer: OutcomeWriter
) -> None:
    smpp = connector(sandbox, writer, throughput=2.0)  # a burst of one, then one every 0.5 s
    await smpp.start()
    outcomes = Outcomes()
    to = [f"+467013{i:05d}" for i in range(5)]
    try:
        for i, number in enumerate(to):
            smpp.submit(OutboundSms(i, "+46700000000", number, "capped"), outcomes.callback(i))
        await asyncio.sleep(0.1)  # the first had its token and went out; the rest wait for theirs
        assert smpp.withdraw_unsent() == 4
        await outcomes.all_in()
        await asyncio.sleep(0.6)  # past the next token: nothing withdrawn goes out after all
    finally:
        await smpp.aclose()
    ((ids, error),) = outcomes.by_id[0]
    assert error is None and ids
    for i in range(1, 5):
        ((ids, error),) = outcomes.by_id[i]
        assert ids is None and isinstance(error, TransientDeliveryError)
    assert [len(sandbox.messages_for(n)) for n in to] == [1, 0, 0, 0, 0]


async def test_a_message_whose_expiry_passes_while_it_waits_for_the_cap_is_not_sent(
    sandbox: Sandbox, writer: OutcomeWriter
) -> None:
    """Behind a cap of 2/s, the third message's turn comes after its expire_at: it is never sent
    (not even with a last second of validity) and its error expires it (406)."""
    smpp = connector(sandbox, writer, throughput=2.0)  # a burst of one, then one every 0.5 s
    await smpp.start()
    outcomes = Outcomes()
    to = [f"+467014{i:05d}" for i in range(3)]
    expire_at = now_ms() + 700  # the third's turn is ~1 s away
    try:
        for i, number in enumerate(to):
            smpp.submit(OutboundSms(i, "+46700000000", number, "capped", expire_at_ms=expire_at),
                        outcomes.callback(i))
        await outcomes.all_in()
        await asyncio.sleep(0.2)
    finally:
        await smpp.aclose()
    for i in (0, 1):
        ((ids, error),) = outcomes.by_id[i]
        assert error is None and ids
    ((ids, error),) = outcomes.by_id[2]
    assert ids is None and isinstance(error, ExpiredBeforeSending) and error.code == 406
    assert [len(sandbox.messages_for(n)) for n in to] == [1, 1, 0]
