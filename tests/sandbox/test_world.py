"""Handsets, rules and the Sandbox object without a socket, plus reassembly limits."""

from __future__ import annotations

import asyncio

import pytest

from tidings.core.encoding import segment
from tidings.sandbox import InvalidRule, Sandbox
from tidings.sandbox.handsets import HandsetMessage, Handsets, InvalidNumber, normalize_number
from tidings.sandbox.rules import Behaviour, Draw, Rules
from tidings.smpp import EsmeClient
from tidings.smpp.constants import EsmClass, Npi, Ton
from tidings.smpp.pdu import SubmitSm


@pytest.mark.parametrize("number", ["+46701234567", "46701234567", " +46 70 123 45 67 "])
def test_normalize_number(number: str) -> None:
    assert normalize_number(number) == "+46701234567"


@pytest.mark.parametrize("number", ["", "+", "abc", "+4670x", "1234567890123456", "+٤٦٧"])
def test_normalize_rejects(number: str) -> None:
    with pytest.raises(InvalidNumber):
        normalize_number(number)


@pytest.mark.parametrize(("number", "valid", "line_type", "country", "capabilities"), [
    ("+46701234567", True, "mobile", "SE", ["SMS"]),
    ("+4915112345678", True, "mobile", "DE", ["SMS"]),
    ("+12025550123", True, "mobile", "US", ["SMS"]),       # fixed line or mobile: assume mobile
    ("+4686781234", True, "landline", "SE", []),
    ("+4670123", False, "unknown", None, []),
])
def test_implicit_handsets(number: str, valid: bool, line_type: str, country: str | None, capabilities: list[str]) -> None:
    handset = Handsets().get(number)
    assert (handset.valid, handset.reachable, handset.line_type, handset.country, handset.capabilities) == (
        valid, valid, line_type, country, capabilities)


def test_inbox_keeps_the_newest_messages() -> None:
    handsets = Handsets(max_messages=3)
    handset = handsets.get("+46701234567")
    for n in range(5):
        handsets.receive(handset, HandsetMessage("a", handset.number, str(n), "GSM", 1, n, False, str(n)))
    assert [m.body for m in handset.inbox] == ["2", "3", "4"]


def _message(i: int, to: str) -> HandsetMessage:
    return HandsetMessage("Tidings", to, f"m{i}", "GSM", 1, i, False, str(i))


def test_the_network_holds_at_most_max_held_messages_oldest_dropped_first() -> None:
    handsets = Handsets(max_messages=10, max_held=25)
    numbers = [f"+4670100000{d}" for d in range(4)]
    for i in range(100):
        number = numbers[i % 4]
        handsets.receive(handsets.get(number), _message(i, number))
    held = [m for n in numbers for m in handsets.get(n).inbox]
    assert len(held) <= 25
    assert sorted(int(m.body[1:]) for m in held) == list(range(75, 100))
    assert len(handsets._held) == 25


def test_an_emptied_handset_is_forgotten_unless_configured() -> None:
    handsets = Handsets(max_held=3)
    plain, configured, busy = "+46701000001", "+46701000002", "+46701000003"
    handsets.get(configured).reachable = False
    for number in (plain, configured):
        handsets.receive(handsets.get(number), _message(0, number))
    for i in range(3):
        handsets.receive(handsets.get(busy), _message(i, busy))
    assert not handsets.known(plain)  # made again, the same, when next used
    assert handsets.get(plain).reachable and not handsets.get(plain).inbox
    assert handsets.known(configured) and handsets.get(configured).reachable is False
    assert len(handsets.get(busy).inbox) == 3


async def test_waiting_for_a_forgotten_handset_sees_its_next_message() -> None:
    handsets = Handsets(max_held=1)
    waiter, other = "+46701000001", "+46701000002"
    handsets.receive(handsets.get(waiter), _message(0, waiter))
    handsets.clear(waiter)
    waiting = asyncio.create_task(handsets.wait_for(waiter, 1, 5))
    await asyncio.sleep(0)
    handsets.receive(handsets.get(other), _message(1, other))  # drops m0's place: the waiter's handset is forgotten
    assert not handsets.known(waiter)
    handsets.receive(handsets.get(waiter), _message(2, waiter))  # made again
    assert [m.body for m in await asyncio.wait_for(waiting, 1)] == ["m2"]


def test_a_message_to_a_handset_forgotten_meanwhile_is_not_lost() -> None:
    handsets = Handsets(max_held=1)
    late, other = "+46701000001", "+46701000002"
    handsets.receive(handsets.get(late), _message(0, late))
    taken = handsets.get(late)  # as the SMSC holds it while a message waits out its latency
    handsets.receive(handsets.get(other), _message(1, other))
    assert not handsets.known(late)
    handsets.receive(taken, _message(2, late))
    assert [m.body for m in handsets.get(late).inbox] == ["m2"]
    made_since = handsets.get(other)
    handsets.receive(handsets.get(late), _message(3, late))  # forgets `other`
    handsets.get(other)  # made again
    handsets.record_sent(made_since, _message(4, other))
    assert [m.body for m in handsets.get(other).sent] == ["m4"]


def test_longest_prefix_wins() -> None:
    rules = Rules()
    rules.set("+46", Behaviour(failure_rate=0.1))
    rules.set("4670", Behaviour(failure_rate=0.2))
    rules.set("+467012", Behaviour(failure_rate=0.3))
    assert rules.match("+46701234567").failure_rate == 0.3
    assert rules.match("+46709999999").failure_rate == 0.2
    assert rules.match("+4631000000").failure_rate == 0.1
    assert rules.match("+4412345").failure_rate == 0.0
    assert rules.delete("+467012")
    assert rules.match("+46701234567").failure_rate == 0.2


@pytest.mark.parametrize("options", [
    {"failure_rate": -0.1}, {"throttle_rate": "half"}, {"latency_ms": (5, 1)}, {"error_code": 70000},
    {"reject_status": 0}, {"nonsense": 1}, {"receipt_loss_rate": True},
])
def test_invalid_rules(options: dict[str, object]) -> None:
    with pytest.raises(InvalidRule):
        Sandbox().set_rule("+46", **options)


def test_invalid_prefix() -> None:
    with pytest.raises(InvalidRule):
        Sandbox().set_rule("+46x", failure_rate=0.5)


def test_latency_forms() -> None:
    assert Behaviour.from_options({"latency_ms": 5}).as_json()["latency_ms"] == {"min": 5, "max": 5}
    assert Behaviour.from_options({"latency_ms": (1, 9)}).latency_max_ms == 9
    assert Behaviour.from_options({"latency_ms": {"min": 2, "max": 4}}).latency_min_ms == 2


def test_draws_repeat_with_a_seed() -> None:
    first, second = Draw(7), Draw(7)
    behaviour = Behaviour(latency_min_ms=0, latency_max_ms=1000)
    assert [first.chance(0.5) for _ in range(50)] == [second.chance(0.5) for _ in range(50)]
    assert [first.latency_ms(behaviour) for _ in range(10)] == [second.latency_ms(behaviour) for _ in range(10)]


def test_port_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        _ = Sandbox().port


async def test_wait_for_messages_times_out(sandbox: Sandbox) -> None:
    with pytest.raises(TimeoutError):
        await sandbox.wait_for_messages("+46701234567", 1, timeout=0.05)


async def test_incomplete_message_is_shown_after_the_reassembly_timeout(sandbox: Sandbox, client: EsmeClient) -> None:
    sandbox.smsc.reassembly_timeout = 0.1
    encoded = segment("z" * 200, reference=3)
    await client.submit(SubmitSm(
        source_addr="Shop", source_addr_ton=Ton.ALPHANUMERIC, destination_addr="46701234567",
        dest_addr_ton=Ton.INTERNATIONAL, dest_addr_npi=Npi.ISDN, esm_class=EsmClass.UDHI,
        data_coding=0, short_message=encoded.parts[0],
    ))
    await asyncio.sleep(0.02)
    assert sandbox.messages_for("+46701234567") == []
    [message] = await sandbox.wait_for_messages("+46701234567", 1, timeout=2)
    assert (message.body, message.segments) == ("z" * 153, 1)


async def test_routes_are_mounted_under_sandbox_v1(sandbox: Sandbox) -> None:
    [mount] = sandbox.routes()
    assert getattr(mount, "path", None) == "/sandbox/v1"
    assert {getattr(r, "path", None) for r in sandbox.api_routes()} >= {"/handsets/{number}/messages", "/rules"}
