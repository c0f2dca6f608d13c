"""The sandbox's cap on what it holds across many boxes: handsets' inboxes and outboxes,
mailboxes, call logs.

Each box keeps its own newest few; `HeldItems` keeps the newest `limit` across all of them,
dropping the oldest first whoever holds it, so that a long load in `tidings serve` does not grow
the sandbox. It tells the caller whose item it dropped, so that an owner left with nothing can be
forgotten.
"""

from __future__ import annotations

from collections import deque
from collections.abc import MutableSequence
from typing import Generic, TypeVar

__all__ = ["HeldItems"]

Owner = TypeVar("Owner")
Item = TypeVar("Item")


class HeldItems(Generic[Owner, Item]):
    """Every item held, oldest first, with its owner and the box it is in."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: deque[tuple[Owner, MutableSequence[Item], Item]] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, owner: Owner, box: MutableSequence[Item], item: Item) -> list[Owner]:
        """Note `item`, just appended to `owner`'s `box`, and drop the oldest items past the limit
        from their boxes; the owners of what was dropped (each may hold nothing now)."""
        self._items.append((owner, box, item))
        dropped = []
        while len(self._items) > self.limit:
            oldest_owner, oldest_box, oldest = self._items.popleft()
            if oldest_box and oldest_box[0] is oldest:  # else dropped already (box full, or cleared)
                del oldest_box[0]
            dropped.append(oldest_owner)
        return dropped
