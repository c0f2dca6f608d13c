"""What every platform twin does the same way: its background tasks and HTTP client
(`PlatformTwin`: start, stop, idle, spawn, pause), POSTing a callback with retries and owing it
when they fail (`callbacks.py`), the console's settings endpoint, Meta's `hub.challenge` webhook
handshake, bounded memory of sent messages, and the JSON request/response helpers. Each twin
keeps its own wire format and error shape.

A stop loses nothing a twin has accepted: the work after a send (its latency, the handset
receiving it, the delivered and read callbacks) waits in `pause`, which a stop cuts short, so
that every accepted message reaches its handset and every callback is either posted or owed;
what is owed is saved with the sandbox's state and posted after the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import Response

from tidings.channels.http_client import HttpClient, PlatformHttp
from tidings.sandbox.handsets import HandsetMessage
from tidings.sandbox.platforms.callbacks import CallbackRetrier
from tidings.sandbox.state_file import UnreadableState, member, optional_member
from tidings.tasks import cancel_and_wait

if TYPE_CHECKING:
    from tidings.sandbox.world import Sandbox

__all__ = [
    "MAX_REMEMBERED",
    "STOP_WAIT_S",
    "WEBHOOK_ATTEMPTS",
    "PlatformTwin",
    "app_message",
    "hub_challenge",
    "json_object",
    "json_response",
    "pairs",
    "post_with_retries",
    "remember",
    "revived",
]

MAX_REMEMBERED = 10_000
WEBHOOK_ATTEMPTS = 3
STOP_WAIT_S = 5.0
"""How long a stop waits for the work after sends to finish, cut short (then it is cancelled)."""
_SUCCESS = range(200, 300)

K = TypeVar("K")
V = TypeVar("V")


class PlatformTwin:
    """Lifecycle shared by the twins: an HTTP client made on first use, the work after sends run
    as tracked tasks (`spawn`) whose waits (`pause`) a stop cuts short, callbacks that failed
    owed to `callbacks` and tried again, and the console's settings endpoint over the attributes
    named in `settings` (non-negative ints and bools)."""

    channel: ClassVar[str]
    name: ClassVar[str]
    settings: ClassVar[tuple[str, ...]] = ()

    def __init__(self, sandbox: Sandbox, clock: Callable[[], int] | None) -> None:
        self.sandbox = sandbox
        self.clock = clock or sandbox.clock
        self.webhook_failures = 0  # callbacks not taken on their first tries (then owed)
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: HttpClient | None = None
        self._stopping = asyncio.Event()
        self.callbacks = CallbackRetrier(self.name, self.http, self.clock)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def start(self) -> None:
        self._stopping.clear()
        self.http()
        self.callbacks.start()

    def http(self) -> HttpClient:
        if self._http is None:
            self._http = HttpClient(timeout=5.0)
        return self._http

    async def stop(self) -> None:
        """Finish the work after sends at once (`pause` no longer waits), for `STOP_WAIT_S` at
        most, then stop; the callbacks not posted stay owed (`callbacks.owed()`), for the
        sandbox to save."""
        await self.finish_work()
        await self.callbacks.stop()
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def finish_work(self) -> None:
        """Cut every `pause` short and wait for the spawned work, cancelling what is left after
        `STOP_WAIT_S` (a callback cut short is owed)."""
        self._stopping.set()
        tasks, self._tasks = list(self._tasks), set()
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=STOP_WAIT_S)
            await cancel_and_wait(late)

    async def pause(self, seconds: float) -> None:
        """`asyncio.sleep(seconds)` in the work after a send, returning at once when the twin stops."""
        if self._stopping.is_set() or seconds <= 0:
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()

    def saved(self) -> dict[str, Any]:
        """What the twin keeps across a restart, as JSON (registrations, conversation windows,
        counters whose values must not be given again); the sandbox saves it at a stop. Owed
        callbacks are saved apart (`callbacks`)."""
        return {}

    def take_back(self, document: dict[str, Any]) -> None:
        """Take back what `saved()` returned before a restart; raises `UnreadableState` (or
        ValueError, TypeError, KeyError) when it cannot."""

    async def idle(self, timeout: float = 5.0) -> None:
        """Wait until every callback in flight has been sent."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def post_webhook(self, url: str, body: bytes, headers: dict[str, str],
                           accept: Collection[int] = _SUCCESS) -> bool:
        """POST a callback with a few retries; True when taken. One not taken is counted in
        `webhook_failures` and owed (`callbacks`), as is one cut short by a stop."""
        try:
            status = await post_with_retries(self.http(), url, body, headers, accept=accept, sleep=self.pause)
        except asyncio.CancelledError:
            self.callbacks.owe(url, body, headers, accept)
            raise
        if status in accept:
            return True
        self.webhook_failures += 1
        self.callbacks.owe(url, body, headers, accept)
        return False

    async def _console_settings(self, request: Request) -> Response:
        if request.method == "PUT":
            body = await json_object(request)
            for key in self.settings:
                value, current = body.get(key), getattr(self, key)
                if isinstance(current, bool):
                    if isinstance(value, bool):
                        setattr(self, key, value)
                elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                    setattr(self, key, value)
        return json_response({key: getattr(self, key) for key in self.settings})


async def post_with_retries(http: PlatformHttp, url: str, body: bytes, headers: dict[str, str], *,
                            attempts: int = WEBHOOK_ATTEMPTS, accept: Collection[int] = _SUCCESS,
                            sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> int:
    """POST `body` until the answer's status is in `accept`, backing off (`sleep`) between
    attempts; the last HTTP status (0: unreachable)."""
    status = 0
    for attempt in range(attempts):
        try:
            status = (await http.post(url, content=body, headers=headers)).status_code
            if status in accept:
                return status
        except httpx.HTTPError:
            status = 0
        if attempt < attempts - 1:
            await sleep(0.05 * 4**attempt)
    return status


async def hub_challenge(http: PlatformHttp, url: str, verify_token: str | None) -> str | None:
    """Meta's webhook verification: GET the URL with hub.mode/hub.verify_token/hub.challenge;
    None when it echoes the challenge, else why verification failed."""
    challenge = str(int.from_bytes(os.urandom(4), "big"))
    try:
        response = await http.get(url, params={
            "hub.mode": "subscribe", "hub.verify_token": verify_token or "", "hub.challenge": challenge})
    except httpx.HTTPError as exc:
        return f"Callback verification failed: {exc!r}"
    if response.status_code != 200 or response.text != challenge:
        return ("Callback verification failed with the following errors: "
                f"HTTP Status Code = {response.status_code}; the response did not match the challenge")
    return None


D = TypeVar("D")


def revived(cls: type[D], document: Any) -> D:
    """A dataclass instance from its `dataclasses.asdict` JSON (fields it does not name keep
    their defaults; names it does not know are ignored)."""
    if not isinstance(document, dict):
        raise UnreadableState(f"expected an object for {cls.__name__}, got {document!r:.40}")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in document.items() if k in names})


def pairs(document: Any, name: str) -> list[tuple[Any, ...]]:
    """`document[name]`, a list of JSON arrays, as tuples (the members of a saved set or the
    keys and values of a saved map)."""
    return [tuple(item) for item in member(document, name, list)]


def kept_list(document: Any, name: str) -> list[Any]:
    """`document[name]`, a list, or an empty one when a file saved before it was kept has none."""
    return optional_member(document, name, list) or []


def remember(store: OrderedDict[K, V], key: K, value: V, limit: int = MAX_REMEMBERED) -> None:
    """Keep `value` under `key`, forgetting the oldest entries beyond `limit`."""
    store[key] = value
    while len(store) > limit:
        store.popitem(last=False)


def app_message(*, sender: str, recipient: str, body: str, at_ms: int, message_id: str, channel: str,
                content: dict[str, Any] | None) -> HandsetMessage:
    """A messaging-app message as a handset shows it (one UTF-8 part, never flash)."""
    return HandsetMessage(sender=sender, recipient=recipient, body=body, encoding="UTF-8", segments=1,
                          received_at_ms=at_ms, flash=False, message_id=message_id, channel=channel,
                          content=content)


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; {} when it is not one (console endpoints are lenient)."""
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")
