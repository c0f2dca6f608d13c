"""In-process dispatch queue for the embedded profile: two deques (priority, bulk) and an event.

Priority ids (verification codes) are handed out before any bulk id, whatever was published
first, and in takes of their own (`Taken.priority`). Nothing here survives a restart, and nothing
needs to: at start-up the sweeper republishes every delivery that is still Queued.
Announcements reach the listeners of this process at once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from tidings.queue.base import Taken


class LocalDispatchQueue:
    def __init__(self) -> None:
        self._priority: deque[int] = deque()
        self._items: deque[int] = deque()
        self._ready = asyncio.Event()
        self._listeners: list[Mapping[str, Callable[[], None]]] = []

    async def publish(self, ids: Sequence[int], priority: bool = False) -> None:
        if ids:
            (self._priority if priority else self._items).extend(ids)
            self._ready.set()

    async def take(self, max_items: int, timeout: float) -> Taken | None:
        if not self._priority and not self._items:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None
        # Priority ids go alone, so that their claim is small and not held up by bulk ones.
        source = self._priority or self._items
        popleft = source.popleft
        taken = [popleft() for _ in range(min(max_items, len(source)))]
        return Taken(taken, priority=source is self._priority) if taken else None

    async def ack(self, taken: Taken) -> None:
        return None

    def priority_pending(self) -> bool:
        return bool(self._priority)

    async def backlog(self) -> int:
        return len(self._priority) + len(self._items)

    async def open_since_ms(self) -> int | None:
        """Nothing published here is lost while the process runs (a restart republishes every
        Queued delivery), so while anything is open no entry is counted as lost: the beginning
        of time."""
        return 0 if self._priority or self._items else None

    def announce(self, topic: str) -> None:
        for handlers in list(self._listeners):
            handler = handlers.get(topic)
            if handler is not None:
                handler()

    async def listen(self, handlers: Mapping[str, Callable[[], None]]) -> None:
        self._listeners.append(handlers)
        try:
            await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            self._listeners.remove(handlers)

    async def aclose(self) -> None:
        self._priority.clear()
        self._items.clear()
