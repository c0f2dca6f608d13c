"""Callbacks a twin owes: tried again until taken, in due order, given up after their age limit,
bounded in number, left owed by a stop mid-POST, and saved as JSON that reads back the same."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tidings.api.testing import serve_app
from tidings.channels.http_client import HttpClient
from tidings.sandbox.platforms.callbacks import CallbackRetrier, OwedCallback
from tidings.sandbox.state_file import UnreadableState


@dataclass
class Receiver:
    """Answers `failures[path]` 503s on that path, then 200s; keeps what it took, in order."""

    failures: dict[str, int] = field(default_factory=dict)
    taken: list[tuple[str, bytes, str | None]] = field(default_factory=list)
    hang: asyncio.Event | None = None  # set: requests wait for it
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def receive(self, request: Request) -> Response:
        path = request.url.path
        body = await request.body()
        self.arrived.set()
        if self.hang is not None:
            await self.hang.wait()
        if self.failures.get(path, 0):
            self.failures[path] -= 1
            return Response("busy", status_code=503)
        self.taken.append((path, body, request.headers.get("x-signature")))
        return Response("ok")


@dataclass
class Rig:
    receiver: Receiver
    url: str
    retrier: CallbackRetrier
    now_ms: list[int]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    receiver = Receiver()
    app = Starlette(routes=[Route("/{name}", receiver.receive, methods=["POST"])])
    http = HttpClient(timeout=5.0)
    now_ms = [1_000_000]
    retrier = CallbackRetrier("test", lambda: http, lambda: now_ms[0], first_delay_s=0.02, max_delay_s=0.05)
    async with serve_app(app) as url:
        retrier.start()
        yield Rig(receiver, url, retrier, now_ms)
        await retrier.stop()
    await http.aclose()


async def wait_for(condition: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_an_owed_callback_is_tried_again_until_taken(rig: Rig) -> None:
    rig.receiver.failures["/a"] = 3
    rig.retrier.owe(f"{rig.url}/a", b'{"n":1}', {"x-signature": "sig-1"})
    await wait_for(lambda: rig.receiver.taken)
    assert rig.receiver.taken == [("/a", b'{"n":1}', "sig-1")]  # as signed when first sent
    await wait_for(lambda: len(rig.retrier) == 0)  # the answer reaches the retrier after the receiver has it
    assert rig.retrier.delivered == 1 and rig.retrier.dropped == 0


async def test_one_that_keeps_failing_does_not_hold_up_the_others(rig: Rig) -> None:
    rig.receiver.failures["/down"] = 1_000
    rig.retrier.owe(f"{rig.url}/down", b"1", {})
    for n in (2, 3, 4):
        rig.retrier.owe(f"{rig.url}/up", str(n).encode(), {})
    await wait_for(lambda: len(rig.receiver.taken) == 3)
    assert [body for _, body, _ in rig.receiver.taken] == [b"2", b"3", b"4"]  # in the order owed
    [left] = rig.retrier.owed()
    assert left.url.endswith("/down") and left.attempts >= 1


async def test_only_the_statuses_it_accepts_count_as_taken(rig: Rig) -> None:
    rig.retrier.owe(f"{rig.url}/viber", b"v", {}, accept=(204,))  # the receiver answers 200: not taken
    await wait_for(lambda: rig.retrier.owed() and rig.retrier.owed()[0].attempts >= 2)
    assert len(rig.retrier) == 1 and rig.retrier.delivered == 0


async def test_given_up_after_its_age_limit(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig.retrier.give_up_after_s = 60.0
    rig.receiver.failures["/gone"] = 1_000
    rig.retrier.owe(f"{rig.url}/gone", b"x", {})
    await wait_for(lambda: rig.retrier.owed()[0].attempts >= 2)
    assert len(rig.retrier) == 1  # still within the limit: kept
    rig.now_ms[0] += 60_000
    with caplog.at_level(logging.WARNING, "tidings.sandbox.platforms.callbacks"):
        await wait_for(lambda: len(rig.retrier) == 0)
    assert rig.retrier.dropped == 1 and "given up" in caplog.text


async def test_the_oldest_is_dropped_beyond_the_bound(rig: Rig) -> None:
    await rig.retrier.stop()
    rig.retrier.max_owed = 3
    for n in range(5):
        rig.now_ms[0] += 1
        rig.retrier.owe(f"{rig.url}/x", str(n).encode(), {})
    assert [c.body for c in rig.retrier.owed()] == [b"2", b"3", b"4"] and rig.retrier.dropped == 2


async def test_a_stop_in_the_middle_of_a_post_leaves_it_owed(rig: Rig) -> None:
    rig.receiver.hang = asyncio.Event()
    rig.retrier.take_back([OwedCallback(f"{rig.url}/slow", b"s", {}, None, first_ms=rig.now_ms[0])])
    await asyncio.wait_for(rig.receiver.arrived.wait(), 5.0)
    await rig.retrier.stop()
    assert [c.body for c in rig.retrier.owed()] == [b"s"]
    rig.receiver.hang.set()
    rig.receiver.hang = None
    rig.retrier.start()
    await wait_for(lambda: rig.receiver.taken)
    await wait_for(lambda: len(rig.retrier) == 0)


async def test_saved_as_json_and_read_back() -> None:
    callback = OwedCallback("http://127.0.0.1:9/hook", b'\x00{"a":"\xc3\xa9"}', {"X-Hub-Signature-256": "sha256=ab"},
                            (200,), first_ms=123, attempts=4)
    again = OwedCallback.from_json(callback.to_json())
    assert (again.url, again.body, again.headers, again.accept, again.first_ms, again.attempts) == (
        callback.url, callback.body, callback.headers, (200,), 123, 4)
    assert OwedCallback.from_json({**callback.to_json(), "accept": None}).accept is None
    for broken in ({**callback.to_json(), "body": "not base64!"}, {**callback.to_json(), "headers": {"a": 1}},
                   {**callback.to_json(), "accept": ["200"]}, {"url": "x"}):
        with pytest.raises(UnreadableState):
            OwedCallback.from_json(broken)
