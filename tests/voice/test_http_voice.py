"""The voice network over HTTP: `HttpVoiceNetwork` against the sandbox's `POST /voice/calls` on a
real port — calls land on the handsets' call logs, and every failure of the in-process network
comes back as the same error (invalid number, unreachable, failed call), as do transport failures."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from tidings.api.testing import serve_app
from tidings.core.errors import PermanentDeliveryError, TransientDeliveryError
from tidings.sandbox import Sandbox
from tidings.sandbox.voice import FLASH_RING_MS, INVALID_NUMBER, UNREACHABLE
from tidings.voice.http import HttpVoiceNetwork
from tidings.voice.network import VoiceNetwork

NOW_MS = 1_700_000_000_123
MOBILE = "+46701234567"


@pytest.fixture
def world() -> Sandbox:
    sandbox = Sandbox(seed=7, clock=lambda: NOW_MS)
    sandbox.voice.set_rule("", latency_ms=0)
    return sandbox


@pytest.fixture
async def sandbox_url(world: Sandbox) -> AsyncIterator[str]:
    async with serve_app(Starlette(routes=world.routes())) as url:
        yield f"{url}/sandbox/v1"


@pytest.fixture
async def voice(sandbox_url: str) -> AsyncIterator[HttpVoiceNetwork]:
    network = HttpVoiceNetwork(sandbox_url)
    yield network
    await network.aclose()


async def test_flash_call_over_http_lands_on_the_handset(world: Sandbox, voice: HttpVoiceNetwork) -> None:
    assert isinstance(voice, VoiceNetwork)
    call_id = await voice.place_flash_call(MOBILE, "+46101001234")
    [call] = world.voice.calls_for(MOBILE)
    assert call.call_id == call_id
    assert (call.sender, call.kind, call.answered, call.started_at_ms) == ("+46101001234", "flash", False, NOW_MS)
    assert call.duration_ms == FLASH_RING_MS


async def test_a_flash_call_rings_as_long_as_asked_over_http(world: Sandbox, voice: HttpVoiceNetwork) -> None:
    await voice.place_flash_call(MOBILE, "+46101001234", ring_seconds=12)
    [call] = world.voice.calls_for(MOBILE)
    assert call.duration_ms == 12_000 and not call.answered


async def test_callout_over_http_speaks_its_text(world: Sandbox, voice: HttpVoiceNetwork) -> None:
    call_id = await voice.place_callout(MOBILE, "Your code is 1 2 3 4", "sv-SE")
    [call] = world.voice.calls_for(MOBILE)
    assert call.call_id == call_id and call.kind == "callout"
    assert (call.spoken_text, call.locale, call.answered) == ("Your code is 1 2 3 4", "sv-SE", True)


async def test_invalid_and_unassigned_numbers_are_permanent_404(world: Sandbox, voice: HttpVoiceNetwork) -> None:
    with pytest.raises(PermanentDeliveryError) as bad:
        await voice.place_flash_call("not a number", "+46101001234")
    assert bad.value.code == INVALID_NUMBER
    with pytest.raises(PermanentDeliveryError) as unassigned:
        await voice.place_callout("+999123", "hello", "en-US")
    assert unassigned.value.code == INVALID_NUMBER and "not an assigned number" in str(unassigned.value)
    with pytest.raises(PermanentDeliveryError) as bad_cli:
        await voice.place_flash_call(MOBILE, "caller")
    assert bad_cli.value.code == INVALID_NUMBER
    assert world.voice.calls_for(MOBILE) == []


async def test_unreachable_handset_is_permanent_480(world: Sandbox, voice: HttpVoiceNetwork) -> None:
    world.handset(MOBILE).reachable = False
    with pytest.raises(PermanentDeliveryError) as exc:
        await voice.place_flash_call(MOBILE, "+46101001234")
    assert exc.value.code == UNREACHABLE


async def test_failed_call_is_transient(world: Sandbox, voice: HttpVoiceNetwork) -> None:
    world.voice.set_rule("+4670", latency_ms=0, failure_rate=1.0)
    with pytest.raises(TransientDeliveryError, match="503"):
        await voice.place_callout(MOBILE, "hello", "en-US")
    world.voice.delete_rule("+4670")
    assert await voice.place_callout(MOBILE, "hello", "en-US")


async def test_malformed_calls_are_refused_with_400(sandbox_url: str) -> None:
    async with httpx.AsyncClient() as http:
        for body in ({"kind": "ring", "to": MOBILE}, {"kind": "flash", "to": MOBILE},
                     {"kind": "callout", "to": MOBILE}, {"to": 46701234567}, [1],
                     {"kind": "flash", "to": MOBILE, "cli": "+46101001234", "ring_seconds": 0},
                     {"kind": "flash", "to": MOBILE, "cli": "+46101001234", "ring_seconds": "10"},
                     {"kind": "flash", "to": MOBILE, "cli": "+46101001234", "ring_seconds": True}):
            r = await http.post(f"{sandbox_url}/voice/calls", json=body)
            assert r.status_code == 400, body
            assert r.json()["error"]["code"] in {"invalid_call", "invalid_json"}
        r = await http.post(f"{sandbox_url}/voice/calls", content=b"{")
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"


async def test_a_refused_kind_is_a_permanent_error_with_the_http_status(sandbox_url: str) -> None:
    async with httpx.AsyncClient() as http:
        # A client whose requests the network refuses outright (400) gets a permanent error.
        network = HttpVoiceNetwork(sandbox_url, client=http)
        with pytest.raises(PermanentDeliveryError) as exc:
            await network._place({"kind": "ring", "to": MOBILE})
        assert exc.value.code == 400 and "kind" in str(exc.value)
        await network.aclose()  # a shared client stays open
        assert not http.is_closed


async def test_an_unreachable_voice_network_is_transient() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    network = HttpVoiceNetwork(f"http://127.0.0.1:{port}/sandbox/v1", timeout=2.0)
    try:
        with pytest.raises(TransientDeliveryError, match="unreachable"):
            await network.place_flash_call(MOBILE, "+46101001234")
    finally:
        await network.aclose()
