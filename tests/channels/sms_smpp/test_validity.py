"""A message's expiry goes to the carrier: every submit_sm of it carries the same relative
validity_period (the time left, rounded up to whole seconds), in every long-message mode; a
message without one leaves the field empty; a send paced by a throughput cap counts the time
left from when it leaves the cap."""

from __future__ import annotations

from typing import Any

import pytest

from tidings.channels.base import OutboundSms
from tidings.channels.sms_smpp.connector import SmppConnector
from tidings.channels.sms_smpp.transcode import submit_pdus
from tidings.config import SmppConnectionSettings
from tidings.smpp.pdu import SubmitSm, SubmitSmResp
from tidings.smpp.times import parse_smpp_time

NOW = 1_767_268_800_000
LONG = "Your code is 123456. It is valid for ten minutes; do not share it with anyone, not even us. " * 3


def sms(body: str, expire_at_ms: int | None) -> OutboundSms:
    return OutboundSms(1, "+46700000000", "+46701112233", body, expire_at_ms=expire_at_ms)


def on_the_wire(pdus: list[SubmitSm]) -> list[SubmitSm]:
    return [SubmitSm.decode(p.encode()) for p in pdus]


@pytest.mark.parametrize("mode", ["udh", "sar", "payload"])
@pytest.mark.parametrize("body", [LONG, "Short", "Привет " * 20])
def test_every_part_carries_the_same_validity(mode: str, body: str) -> None:
    pdus = on_the_wire(submit_pdus(sms(body, NOW + 7_200_500), 9, mode, now_ms=NOW))
    assert len(pdus) == (1 if mode == "payload" or body == "Short" else len(submit_pdus(sms(body, None), 9, "udh")))
    assert {p.validity_period for p in pdus} == {"000000020001000R"}  # 2 h 0.5 s, rounded up
    assert parse_smpp_time(pdus[0].validity_period, NOW) == NOW + 7_201_000
    assert all(p.schedule_delivery_time == "" for p in pdus)


@pytest.mark.parametrize("mode", ["udh", "sar", "payload"])
def test_no_expiry_no_validity(mode: str) -> None:
    pdus = on_the_wire(submit_pdus(sms(LONG, None), 9, mode))
    assert len(pdus) >= 1 and all(p.validity_period == "" for p in pdus)


def test_an_expiry_already_past_still_asks_for_one_second() -> None:
    [pdu] = submit_pdus(sms("late", NOW - 5_000), 9, now_ms=NOW)
    assert pdu.validity_period == "000000000001000R"


def test_an_expiry_needs_the_time_of_sending() -> None:
    with pytest.raises(ValueError, match="now_ms"):
        submit_pdus(sms("x", NOW + 1000), 9)


class FakeClient:
    """Records what the connector submits and answers each submit_sm at once."""

    bound = True

    def __init__(self) -> None:
        self.sent: list[SubmitSm] = []

    async def submit(self, pdu: SubmitSm, *, priority: bool = False) -> SubmitSmResp:
        self.sent.append(pdu)
        return SubmitSmResp(message_id=f"id{len(self.sent)}")

    def submit_nowait(self, pdu: SubmitSm, callback: Any, *, priority: bool = False) -> None:
        self.sent.append(pdu)
        callback(SubmitSmResp(message_id=f"id{len(self.sent)}"), None)


class Clock:
    def __init__(self) -> None:
        self.ms = NOW

    def __call__(self) -> int:
        return self.ms


class SlowCap:
    """A throughput cap that lets a message through 30 s later."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def acquire(self, n: int = 1, *, priority: bool = False) -> None:
        self.clock.ms += 30_000


def connector(clock: Clock, limiter: Any = None) -> tuple[SmppConnector, FakeClient]:
    settings = SmppConnectionSettings(name="c", host="127.0.0.1", port=1, system_id="s", password="p")
    smpp = SmppConnector(settings, writer=None, clock=clock, limiter=limiter)  # type: ignore[arg-type]
    fake = FakeClient()
    smpp.client = fake  # type: ignore[assignment]
    return smpp, fake


async def test_the_connector_counts_from_its_clock() -> None:
    clock = Clock()
    smpp, fake = connector(clock)
    outcome: list[Any] = []
    smpp.submit(sms(LONG, NOW + 60_000), lambda ids, error: outcome.append((ids, error)))
    assert outcome and outcome[0][1] is None
    assert len(fake.sent) > 1 and {p.validity_period for p in fake.sent} == {"000000000100000R"}


async def test_time_waited_under_the_cap_is_not_added_to_the_validity() -> None:
    clock = Clock()
    smpp, fake = connector(clock, SlowCap(clock))
    ids = await smpp.send(sms(LONG, NOW + 90_000))
    assert len(ids) == len(fake.sent) > 1
    assert {p.validity_period for p in fake.sent} == {"000000000100000R"}  # 60 s left when it went out
    fake.sent.clear()
    await smpp.send(sms("no expiry", None))
    assert [p.validity_period for p in fake.sent] == [""]
