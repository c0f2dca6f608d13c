"""Callbacks a platform twin still owes its webhook: POSTed again, further and further apart,
until the receiver takes them.

The real platforms do not give up on a webhook after a few seconds: Meta retries a failed
WhatsApp or Messenger webhook "with decreasing frequency" for up to 7 days, Telegram keeps an
update until the bot takes it (for 24 hours), Google's Pub/Sub push retries with backoff until the
message's retention ends. A twin first tries each callback a few times at once
(`PlatformTwin.post_webhook`); one that still fails — the receiver is down, restarting, or
answers 5xx — is owed here and tried again after 1 s, 2 s, 4 s … up to every `MAX_DELAY_S`,
until `GIVE_UP_AFTER_S` has passed since it was first tried (then it is logged and dropped).

What is owed when the sandbox stops is saved with its state (`tidings.sandbox.state`) and posted
after the next start: a `tidings serve` restart, or a `tidings sandbox` stopped while Tidings'
API was down, loses no delivery report and no inbound message. Each entry carries its URL, body
and headers as signed when it was first sent, so it needs nothing else from the twin.

Callbacks are queued per URL and go out one at a time, in the order they were owed; the backoff
is the URL's (a receiver that is down costs one try per pause, however much it is owed), and a
URL that keeps failing does not hold up the others. Once the receiver takes one, the rest of
its queue follows at once. A callback leaves the queue only when answered with a status it
`accept`s, so a stop in the middle of a POST leaves it owed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import httpx

from tidings.channels.http_client import PlatformHttp
from tidings.sandbox.state_file import UnreadableState, member, optional_member

__all__ = ["FIRST_DELAY_S", "GIVE_UP_AFTER_S", "MAX_DELAY_S", "MAX_OWED", "CallbackRetrier", "OwedCallback"]

logger = logging.getLogger("tidings.sandbox.platforms.callbacks")

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 300.0
GIVE_UP_AFTER_S = 24 * 3600.0
MAX_OWED = 100_000
"""Owed callbacks kept at most (the oldest dropped first, with a warning): a receiver down for
long must not grow the sandbox's memory without end."""


@dataclass(eq=False)  # compared by identity: two equal POSTs owed are two entries
class OwedCallback:
    """One webhook POST not taken yet. `accept`: the statuses that count as taken (None: any 2xx)."""

    url: str
    body: bytes
    headers: dict[str, str]
    accept: tuple[int, ...] | None
    first_ms: int  # when it was first tried (the twin's clock)
    attempts: int = 0  # tries since it was owed

    def taken(self, status: int) -> bool:
        return 200 <= status < 300 if self.accept is None else status in self.accept

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "body": base64.b64encode(self.body).decode(), "headers": self.headers,
                "accept": list(self.accept) if self.accept is not None else None, "first_ms": self.first_ms,
                "attempts": self.attempts}

    @classmethod
    def from_json(cls, document: Any) -> OwedCallback:
        headers = member(document, "headers", dict)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise UnreadableState(f"headers are names and strings: {headers!r:.60}")
        accept = optional_member(document, "accept", list)
        if accept is not None and not all(isinstance(s, int) and not isinstance(s, bool) for s in accept):
            raise UnreadableState(f"accept is a list of statuses: {accept!r:.60}")
        try:
            body = base64.b64decode(member(document, "body", str), validate=True)
        except ValueError as exc:
            raise UnreadableState(f"body is not base64: {exc}") from exc
        return cls(url=member(document, "url", str), body=body, headers=headers,
                   accept=tuple(accept) if accept is not None else None,
                   first_ms=member(document, "first_ms", int), attempts=member(document, "attempts", int))


class CallbackRetrier:
    """The owed callbacks of one twin, queued per URL, and the task that posts them; see the
    module docstring."""

    def __init__(self, name: str, http: Callable[[], PlatformHttp], clock: Callable[[], int], *,
                 first_delay_s: float = FIRST_DELAY_S, max_delay_s: float = MAX_DELAY_S,
                 give_up_after_s: float = GIVE_UP_AFTER_S, max_owed: int = MAX_OWED) -> None:
        self.name = name
        self._http = http
        self._clock = clock
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.give_up_after_s = give_up_after_s
        self.max_owed = max_owed
        self._queues: dict[str, deque[OwedCallback]] = {}  # per URL, in the order owed
        self._due: dict[str, float] = {}  # per URL: loop time of its next try
        self._failures: dict[str, int] = {}  # per URL: tries failed in a row (the backoff)
        self._count = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0  # owed callbacks taken in the end
        self.dropped = 0  # given up on, or pushed out by `max_owed`

    def __len__(self) -> int:
        return self._count

    def owe(self, url: str, body: bytes, headers: dict[str, str], accept: Collection[int] | None = None) -> None:
        """A callback the receiver did not take: tried again after `first_delay_s` (or after
        those owed before it to the same URL)."""
        self._add(OwedCallback(url, body, dict(headers), _accept_of(accept), self._clock()),
                  self._now() + self.first_delay_s)

    def owed(self) -> list[OwedCallback]:
        """What is owed, each URL's in the order owed (what a stop saves)."""
        return [callback for queue in self._queues.values() for callback in queue]

    def take_back(self, callbacks: Collection[OwedCallback]) -> None:
        """Callbacks owed before a restart: tried again at once, in their order."""
        now = self._now()
        for callback in callbacks:
            self._add(callback, now)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"{self.name}-callbacks")

    async def stop(self) -> None:
        """Stop trying; what is owed stays (a POST cut short included) for `owed()`."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _add(self, callback: OwedCallback, due: float) -> None:
        queue = self._queues.get(callback.url)
        if queue is None:
            queue = self._queues[callback.url] = deque()
            self._due[callback.url] = due
        queue.append(callback)
        self._count += 1
        if self._count > self.max_owed:
            oldest = min((q[0] for q in self._queues.values()), key=lambda c: c.first_ms)
            self._remove(oldest)
            self.dropped += 1
            logger.warning("sandbox %s: more than %d callbacks owed; the oldest, to %s, dropped",
                           self.name, self.max_owed, oldest.url)
        self._wake.set()

    def _remove(self, callback: OwedCallback) -> None:
        queue = self._queues[callback.url]
        queue.remove(callback)
        self._count -= 1
        if not queue:
            del self._queues[callback.url], self._due[callback.url]
            self._failures.pop(callback.url, None)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            if not self._due:
                await self._wake.wait()
                continue
            url = min(self._due, key=self._due.__getitem__)
            wait = self._due[url] - self._now()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()  # something new may be due sooner
                continue
            await self._try(self._queues[url][0])

    async def _try(self, callback: OwedCallback) -> None:
        """POST the oldest callback owed to its URL: taken, the next goes at once; not taken,
        the URL waits (doubling each time), and what it owes past `give_up_after_s` is dropped."""
        try:
            status = (await self._http().post(callback.url, content=callback.body,
                                              headers=callback.headers)).status_code
        except httpx.HTTPError:
            status = 0
        url = callback.url
        if url not in self._queues or callback not in self._queues[url]:  # pushed out by `max_owed` meanwhile
            return
        if callback.taken(status):
            self._remove(callback)
            self.delivered += 1
            self._failures.pop(url, None)
            if url in self._due:
                self._due[url] = self._now()
            return
        callback.attempts += 1
        too_old = self._clock() - self.give_up_after_s * 1000
        for stale in [c for c in self._queues[url] if c.first_ms <= too_old]:
            self._remove(stale)
            self.dropped += 1
            logger.warning("sandbox %s: callback to %s given up after %d tries (last status %s)",
                           self.name, url, stale.attempts, status or "unreachable")
        if url in self._due:
            failures = self._failures[url] = self._failures.get(url, 0) + 1
            self._due[url] = self._now() + min(self.first_delay_s * 2 ** failures, self.max_delay_s)


def _accept_of(accept: Collection[int] | None) -> tuple[int, ...] | None:
    """None for "any 2xx" (also when given as the whole 2xx range), else the statuses."""
    if accept is None or (isinstance(accept, range) and accept == range(200, 300)):
        return None
    return tuple(accept)
