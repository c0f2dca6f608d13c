"""The SMPP connector against the sandbox SMSC: throughput caps hold for messages with more
parts than the bucket's burst, and submit_sm refusals map to transient or permanent errors."""

from __future__ import annotations

import time

import pytest

from tidings.channels.base import OutboundSms
from tidings.channels.sms_smpp.connector import SmppConnector
from tidings.core.errors import PermanentDeliveryError, TransientDeliveryError
from tidings.runtime.context import now_ms
from tidings.sandbox.world import Sandbox
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
    finally:
        await smpp.aclose()
