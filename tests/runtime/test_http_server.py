"""An in-process HTTP server stops within its grace even while a request never ends."""

from __future__ import annotations

import asyncio
import socket

import httpx
import uvicorn

from tidings.runtime.http_server import DEFAULT_SHUTDOWN_GRACE_SECONDS, InLoopServer


class NeverAnswers:
    """An ASGI app whose requests wait forever (a handler stuck on a peer)."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.cancelled = False

    async def __call__(self, scope: dict, receive: object, send: object) -> None:
        self.arrived.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


def config(app: object, **options: object) -> uvicorn.Config:
    return uvicorn.Config(app, host="127.0.0.1", port=0, loop="none", lifespan="off", log_level="critical",
                          access_log=False, **options)  # type: ignore[arg-type]


async def test_a_request_that_never_ends_is_cancelled_after_the_grace() -> None:
    app = NeverAnswers()
    sock = socket.create_server(("127.0.0.1", 0))
    server = InLoopServer(config(app, timeout_graceful_shutdown=1))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    async with httpx.AsyncClient(timeout=30) as client:
        request = asyncio.create_task(client.get(f"http://127.0.0.1:{sock.getsockname()[1]}/"))
        await asyncio.wait_for(app.arrived.wait(), 10)
        loop = asyncio.get_running_loop()
        asked = loop.time()
        server.should_exit = True
        await asyncio.wait_for(serving, 10)
        took = loop.time() - asked
        assert 0.9 <= took < 5, took  # waited for the request, then cancelled it
        assert app.cancelled
        try:
            answer = await asyncio.wait_for(request, 10)
        except httpx.HTTPError:
            return  # no answer: the caller saw the connection go
        assert answer.status_code >= 500, answer  # or uvicorn's own error answer, never a success


def test_the_grace_is_bounded_when_the_config_leaves_it_unset() -> None:
    server = InLoopServer(config(NeverAnswers()))
    assert server.config.timeout_graceful_shutdown == DEFAULT_SHUTDOWN_GRACE_SECONDS
    assert InLoopServer(config(NeverAnswers(), timeout_graceful_shutdown=3)).config.timeout_graceful_shutdown == 3


def test_settings_seconds_become_whole_seconds_of_at_least_one() -> None:
    assert InLoopServer.grace(0.2) == 1
    assert InLoopServer.grace(2.5) == 3
    assert InLoopServer.grace(30) == 30
