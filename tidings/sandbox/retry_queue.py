"""What the sandbox owes a receiver that did not take it — a platform twin's webhook callback
(`platforms/callbacks.py`), a bounce for a mail host (`mail_outbox.py`) — tried again, further
and further apart, until taken.

Entries are queued per destination (a URL, a mail domain) and go out one at a time, in the order
they were owed. The backoff is the destination's: after a failed try it waits 1 s, 2 s, 4 s …
up to every `max_delay_s`, so a receiver that is down costs one try per pause however much it is
owed, and one destination that keeps failing does not hold up the others. Once the receiver
takes an entry, the rest of its queue follows at once. An entry leaves the queue only when
taken, so a stop in the middle of a try leaves it owed; what is owed when the sandbox stops is
saved with its state (`state.py`) and tried again after the next start. An entry still not taken
`give_up_after_s` after it was first tried is logged and dropped, as a real sender gives up in
the end; at most `max_owed` are kept (the oldest dropped first, with a warning), so a receiver
down for long does not grow the sandbox's memory without end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from typing import Generic, Protocol, TypeVar

from tidings.tasks import cancel_and_wait

__all__ = ["FIRST_DELAY_S", "GIVE_UP_AFTER_S", "MAX_DELAY_S", "MAX_OWED", "Owed", "RetryQueue"]

logger = logging.getLogger("tidings.sandbox.retry_queue")

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 300.0
GIVE_UP_AFTER_S = 24 * 3600.0
MAX_OWED = 100_000


class Owed(Protocol):
    """An entry: where it goes, when it was first tried (the sandbox's clock, ms), tries since."""

    first_ms: int
    attempts: int

    @property
    def destination(self) -> str: ...


E = TypeVar("E", bound=Owed)

Send = Callable[[E], Awaitable[str | None]]
"""Try an entry once: None when taken, else what happened (for the log)."""


class RetryQueue(Generic[E]):
    """Owed entries of one kind, queued per destination, and the task that tries them; see the
    module docstring. Entries are compared by identity."""

    def __init__(self, name: str, send: Send[E], clock: Callable[[], int], *,
                 first_delay_s: float = FIRST_DELAY_S, max_delay_s: float = MAX_DELAY_S,
                 give_up_after_s: float = GIVE_UP_AFTER_S, max_owed: int = MAX_OWED) -> None:
        self.name = name
        self._send = send
        self._clock = clock
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.give_up_after_s = give_up_after_s
        self.max_owed = max_owed
        self._queues: dict[str, deque[E]] = {}  # per destination, in the order owed
        self._due: dict[str, float] = {}  # per destination: loop time of its next try
        self._failures: dict[str, int] = {}  # per destination: tries failed in a row (the backoff)
        self._count = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0  # owed entries taken in the end
        self.dropped = 0  # given up on, or pushed out by `max_owed`

    def __len__(self) -> int:
        return self._count

    def add(self, entry: E) -> None:
        """An entry its receiver did not take: tried again after `first_delay_s` (or after those
        owed before it to the same destination)."""
        self._add(entry, self._now() + self.first_delay_s)

    def owed(self) -> list[E]:
        """What is owed, each destination's in the order owed (what a stop saves)."""
        return [entry for queue in self._queues.values() for entry in queue]

    def take_back(self, entries: Collection[E]) -> None:
        """Entries owed before a restart: tried again at once, in their order."""
        now = self._now()
        for entry in entries:
            self._add(entry, now)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"{self.name}-retries")

    async def stop(self) -> None:
        """Stop trying; what is owed stays (a try cut short included) for `owed()`."""
        task, self._task = self._task, None
        await cancel_and_wait(task)

    def _add(self, entry: E, due: float) -> None:
        destination = entry.destination
        queue = self._queues.get(destination)
        if queue is None:
            queue = self._queues[destination] = deque()
            self._due[destination] = due
        queue.append(entry)
        self._count += 1
        if self._count > self.max_owed:
            oldest = min((q[0] for q in self._queues.values()), key=lambda e: e.first_ms)
            self._remove(oldest)
            self.dropped += 1
            logger.warning("sandbox %s: more than %d owed; the oldest, to %s, dropped",
                           self.name, self.max_owed, oldest.destination)
        self._wake.set()

    def _remove(self, entry: E) -> None:
        destination = entry.destination
        queue = self._queues[destination]
        queue.remove(entry)
        self._count -= 1
        if not queue:
            del self._queues[destination], self._due[destination]
            self._failures.pop(destination, None)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            if not self._due:
                await self._wake.wait()
                continue
            destination = min(self._due, key=self._due.__getitem__)
            wait = self._due[destination] - self._now()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()  # something new may be due sooner
                continue
            await self._try(self._queues[destination][0])

    async def _try(self, entry: E) -> None:
        """Try the oldest entry owed to its destination: taken, the next goes at once; not taken,
        the destination waits (doubling each time), and what it owes past `give_up_after_s` is
        dropped."""
        failure = await self._send(entry)
        destination = entry.destination
        if destination not in self._queues or entry not in self._queues[destination]:  # pushed out meanwhile
            return
        if failure is None:
            self._remove(entry)
            self.delivered += 1
            self._failures.pop(destination, None)
            if destination in self._due:
                self._due[destination] = self._now()
            return
        entry.attempts += 1
        too_old = self._clock() - self.give_up_after_s * 1000
        for stale in [e for e in self._queues[destination] if e.first_ms <= too_old]:
            self._remove(stale)
            self.dropped += 1
            logger.warning("sandbox %s: %s given up after %d tries (last: %s)",
                           self.name, stale.destination, stale.attempts, failure)
        if destination in self._due:
            failures = self._failures[destination] = self._failures.get(destination, 0) + 1
            self._due[destination] = self._now() + min(self.first_delay_s * 2 ** failures, self.max_delay_s)
