"""In-process dispatch queue for the embedded profile: a deque and an event.

Nothing here survives a restart, and nothing needs to: at start-up the sweeper republishes
every delivery that is still Queued.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

from tidings.queue.base import Taken


class LocalDispatchQueue:
    def __init__(self) -> None:
        self._items: deque[int] = deque()
        self._ready = asyncio.Event()

    async def publish(self, ids: Sequence[int]) -> None:
        if ids:
            self._items.extend(ids)
            self._ready.set()

    async def take(self, max_items: int, timeout: float) -> Taken | None:
        if not self._items:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None
        n = min(max_items, len(self._items))
        if n == 0:
            return None
        popleft = self._items.popleft
        return Taken([popleft() for _ in range(n)])

    async def ack(self, taken: Taken) -> None:
        return None

    async def backlog(self) -> int:
        return len(self._items)

    async def aclose(self) -> None:
        self._items.clear()
