"""The sandbox voice network: flash calls and callouts on handsets, failures, rules, the call log API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from tidings.api.testing import serve_app
from tidings.core.errors import PermanentDeliveryError, TransientDeliveryError
from tidings.sandbox import InvalidRule, Sandbox
from tidings.sandbox.voice import FLASH_RING_MS, INVALID_NUMBER, UNREACHABLE, SandboxVoice, speech_duration_ms
from tidings.voice.network import VoiceNetwork

NOW_MS = 1_700_000_000_123
MOBILE = "+46701234567"
OTHER_MOBILE = "+447911123456"


@pytest.fixture
def world() -> Sandbox:
    sandbox = Sandbox(seed=7, clock=lambda: NOW_MS)
    sandbox.voice.set_rule("", latency_ms=0)
    return sandbox


@pytest.fixture
async def api(world: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=world.routes())
    async with serve_app(app) as url, httpx.AsyncClient(base_url=f"{url}/sandbox/v1") as client:
        yield client


def test_the_sandbox_voice_network_is_a_voice_network_attached_as_a_service(world: Sandbox) -> None:
    assert isinstance(world.voice, VoiceNetwork)
    assert world.voice in world.services
    paths = {getattr(r, "path", None) for r in world.api_routes()}
    assert {"/handsets/{number}/calls", "/voice/rules/{prefix}"} <= paths


async def test_flash_call_is_a_missed_call_showing_the_caller_id(world: Sandbox) -> None:
    call_id = await world.voice.place_flash_call("46701234567", "+4610 123 45 67")
    [call] = world.voice.calls_for(MOBILE)
    assert call.call_id == call_id
    assert (call.sender, call.recipient, call.kind, call.answered) == ("+46101234567", MOBILE, "flash", False)
    assert call.spoken_text is None and call.duration_ms == FLASH_RING_MS and call.started_at_ms == NOW_MS
    await world.voice.place_flash_call(MOBILE, "+46101234567", ring_seconds=20)
    assert world.voice.calls_for(MOBILE)[-1].duration_ms == 20_000


async def test_callout_is_answered_and_speaks_its_text(world: Sandbox) -> None:
    speech = "Your   verification code is\n1 2 3 4"
    await world.voice.place_callout(MOBILE, speech, "en-US")
    [call] = await world.voice.wait_for_calls(MOBILE, 1, timeout=1)
    assert call.kind == "callout" and call.answered
    assert call.spoken_text == "Your verification code is 1 2 3 4"
    assert call.locale == "en-US" and call.sender == world.voice.callout_cli
    assert call.duration_ms == speech_duration_ms(call.spoken_text) > speech_duration_ms("1 2")


async def test_callout_not_answered_when_the_rule_says_so(world: Sandbox) -> None:
    world.voice.set_rule("+4670", latency_ms=0, answer_rate=0)
    await world.voice.place_callout(MOBILE, "code 9 9 9 9", "sv-SE")
    await world.voice.place_callout(OTHER_MOBILE, "code 1 1 1 1", "en-GB")
    [missed] = world.voice.calls_for(MOBILE)
    assert (missed.answered, missed.spoken_text, missed.duration_ms) == (False, None, 0)
    assert world.voice.calls_for(OTHER_MOBILE)[0].answered


async def test_unreachable_handset_fails_permanently_and_records_nothing(world: Sandbox) -> None:
    world.handset(MOBILE).reachable = False
    with pytest.raises(PermanentDeliveryError) as caught:
        await world.voice.place_flash_call(MOBILE, "+46101234567")
    assert caught.value.code == UNREACHABLE
    with pytest.raises(PermanentDeliveryError):
        await world.voice.place_callout(MOBILE, "1 2 3", "en-US")
    assert world.voice.calls_for(MOBILE) == []


@pytest.mark.parametrize("number", ["+999123", "not a number"])
async def test_invalid_numbers_fail_permanently(world: Sandbox, number: str) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        await world.voice.place_callout(number, "1 2 3", "en-US")
    assert caught.value.code == INVALID_NUMBER


async def test_an_invalid_caller_id_is_refused(world: Sandbox) -> None:
    with pytest.raises(PermanentDeliveryError):
        await world.voice.place_flash_call(MOBILE, "Tidings")


async def test_network_failures_are_transient(world: Sandbox) -> None:
    world.voice.set_rule("44", latency_ms=0, failure_rate=1)
    with pytest.raises(TransientDeliveryError):
        await world.voice.place_flash_call(OTHER_MOBILE, "+46101234567")
    assert await world.voice.place_flash_call(MOBILE, "+46101234567")


async def test_latency_by_prefix_delays_the_call(world: Sandbox) -> None:
    world.voice.set_rule("+44", latency_ms=[150, 150])
    started = time.monotonic()
    await world.voice.place_flash_call(OTHER_MOBILE, "+46101234567")
    assert time.monotonic() - started >= 0.14
    started = time.monotonic()
    await world.voice.place_flash_call(MOBILE, "+46101234567")
    assert time.monotonic() - started < 0.1


async def test_wait_for_calls_wakes_on_a_new_call_and_times_out_otherwise(world: Sandbox) -> None:
    waiter = asyncio.create_task(world.voice.wait_for_calls(MOBILE, 1, timeout=2))
    await asyncio.sleep(0)
    await world.voice.place_flash_call(MOBILE, "+46101234567")
    assert len(await waiter) == 1
    with pytest.raises(TimeoutError):
        await world.voice.wait_for_calls(MOBILE, 2, timeout=0.05)


@pytest.mark.parametrize("options", [{"answer_rate": 2}, {"latency_ms": [5, 1]}, {"ring": 1},
                                     {"failure_rate": True}, {"latency_ms": -1}])
def test_invalid_rules_are_refused(world: Sandbox, options: dict[str, object]) -> None:
    with pytest.raises(InvalidRule):
        world.voice.set_rule("46", **options)


def test_the_call_log_keeps_at_most_max_calls(world: Sandbox) -> None:
    voice = SandboxVoice(world.handsets, world.draw, world.clock, max_calls=2)
    voice.set_rule("", latency_ms=0)

    async def three() -> None:
        for cli in ("+461", "+462", "+463"):
            await voice.place_flash_call(MOBILE, cli)

    asyncio.run(three())
    assert [c.sender for c in voice.calls_for(MOBILE)] == ["+462", "+463"]


async def test_all_call_logs_together_keep_the_newest_max_held_calls(world: Sandbox) -> None:
    voice = SandboxVoice(world.handsets, world.draw, world.clock, max_calls=10, max_held=3)
    voice.set_rule("", latency_ms=0)
    await voice.place_flash_call(MOBILE, "+461")
    await voice.place_flash_call(OTHER_MOBILE, "+462")
    await voice.place_flash_call(MOBILE, "+463")
    voice.clear(OTHER_MOBILE)
    await voice.place_flash_call(MOBILE, "+464")  # past max_held: MOBILE's oldest call goes
    assert [c.sender for c in voice.calls_for(MOBILE)] == ["+463", "+464"]
    await voice.place_flash_call(OTHER_MOBILE, "+465")
    await voice.place_flash_call(OTHER_MOBILE, "+466")  # the cleared call was held: MOBILE's +463 goes
    assert [c.sender for c in voice.calls_for(MOBILE)] == ["+464"]
    for cli in ("+467", "+468"):
        await voice.place_flash_call(OTHER_MOBILE, cli)
    assert voice.calls_for(MOBILE) == [] and MOBILE not in voice._calls  # an emptied log is forgotten
    assert [c.sender for c in voice.calls_for(OTHER_MOBILE)] == ["+466", "+467", "+468"]


async def test_call_log_rest_api(world: Sandbox, api: httpx.AsyncClient) -> None:
    await world.voice.place_flash_call(MOBILE, "+46101234567")
    await world.voice.place_callout(MOBILE, "Your code is 4 2", "en-US")
    response = await api.get("/handsets/%2B46701234567/calls")
    assert response.status_code == 200
    flash, callout = response.json()["calls"]
    assert {k: flash[k] for k in ("from", "to", "kind", "spoken_text", "started_at", "duration_ms", "answered")} == {
        "from": "+46101234567", "to": MOBILE, "kind": "flash", "spoken_text": None,
        "started_at": "2023-11-14T22:13:20.123Z", "duration_ms": FLASH_RING_MS, "answered": False}
    assert (callout["kind"], callout["spoken_text"], callout["answered"]) == ("callout", "Your code is 4 2", True)
    assert (await api.get("/handsets/46701234567/calls")).json()["calls"][0]["id"] == flash["id"]
    assert (await api.get("/handsets/abc/calls")).status_code == 400
    assert (await api.delete("/handsets/46701234567/calls")).status_code == 204
    assert (await api.get("/handsets/46701234567/calls")).json() == {"calls": []}


async def test_voice_rules_rest_api(world: Sandbox, api: httpx.AsyncClient) -> None:
    response = await api.put("/voice/rules/+44", json={"latency_ms": 0, "answer_rate": 0})
    assert response.status_code == 200
    assert response.json()["answer_rate"] == 0
    await world.voice.place_callout(OTHER_MOBILE, "1 2 3", "en-GB")
    assert world.voice.calls_for(OTHER_MOBILE)[0].answered is False
    rules = (await api.get("/voice/rules")).json()["rules"]
    assert [r["prefix"] for r in rules] == ["", "+44"]
    assert (await api.put("/voice/rules/44", json={"answer_rate": 3})).status_code == 400
    assert (await api.put("/voice/rules/44", content=b"[")).status_code == 400
    assert (await api.delete("/voice/rules/44")).status_code == 204
    assert (await api.delete("/voice/rules/44")).status_code == 404
