"""Test helpers for anything that sends webhooks: a real receiver on 127.0.0.1 and a manual clock.

    receiver = WebhookReceiver()          # port bound, connections refused: the receiver is down
    ... rows fail to deliver ...
    await receiver.start()                # now it listens (uvicorn, same event loop)
    await receiver.wait_for(3)            # until three requests arrived
    await receiver.stop()
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ManualClock", "ReceivedRequest", "WebhookReceiver"]

_Message = MutableMapping[str, Any]


class ManualClock:
    """Epoch milliseconds that move only when told to; pass it as a `clock=`."""

    def __init__(self, start_ms: int) -> None:
        self.now = start_ms

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += round(seconds * 1000)


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    received_ms: int = 0  # wall clock, epoch ms, when the whole body had arrived


class WebhookReceiver:
    """A webhook receiver served by uvicorn on 127.0.0.1, recording every request.

    The port is bound at construction but listens only after `start()`, so until then
    connections are refused, as with a receiver that is down. Each answer's status is the next
    of `statuses`, then `default_status`.
    """

    def __init__(self, path: str = "/hooks/sms") -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}{path}"
        self.requests: list[ReceivedRequest] = []
        self.statuses: deque[int] = deque()
        self.default_status = 200
        self._arrived = asyncio.Condition()
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    async def __call__(
        self,
        scope: _Message,
        receive: Callable[[], Awaitable[_Message]],
        send: Callable[[_Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        received_ms = time.time_ns() // 1_000_000
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        status = self.statuses.popleft() if self.statuses else self.default_status
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body",
                    "body": b"ok" if status < 300 else b"receiver unavailable"})
        async with self._arrived:
            self.requests.append(ReceivedRequest(scope["method"], scope["path"], headers, body, received_ms))
            self._arrived.notify_all()

    @property
    def bodies(self) -> list[bytes]:
        return [r.body for r in self.requests]

    async def start(self) -> None:
        import uvicorn

        from tidings.runtime.http_server import TEST_SHUTDOWN_GRACE_SECONDS, InLoopServer

        config = uvicorn.Config(self, lifespan="off", log_level="warning", ws="none",
                                access_log=False, timeout_graceful_shutdown=TEST_SHUTDOWN_GRACE_SECONDS)
        self._server = InLoopServer(config)  # the test runner's signals stay its own
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        while not self._server.started:
            if self._task.done():
                await self._task  # raises why it could not start
            await asyncio.sleep(0.005)

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        """Until at least `count` requests have arrived (TimeoutError after `timeout`)."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests) >= count)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None
        self._sock.close()
