"""The dispatch queue contract shared by the in-process and Redis Streams implementations.

Besides the ids to send, the queue carries wake-ups (`announce`/`listen`) for work that reaches
the workers through the database: webhook rows and Conversation API work an API process commits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class Taken:
    """Ids handed to one worker; `ack` once they are claimed in the database."""

    ids: list[int]
    tokens: list[str] = field(default_factory=list)
    priority: bool = False  # priority ids only (their claim takes the write lock's priority lane)


WEBHOOKS = "webhooks"  # webhook rows committed: the senders claim them now
CONVERSATIONS = "conversations"  # Conversation API work committed: the engines act now


class DispatchQueue(Protocol):
    async def publish(self, ids: Sequence[int], priority: bool = False) -> None:
        """Publish ids; `priority` ids (verification codes) are taken before any bulk id."""
        ...

    async def take(self, max_items: int, timeout: float) -> Taken | None:
        """Up to max_items ids, priority ones first, waiting at most `timeout` seconds for the
        first one."""
        ...

    async def ack(self, taken: Taken) -> None: ...

    def priority_pending(self) -> bool:
        """Whether priority ids are known to be waiting here, without asking anyone: a worker
        whose send slots are nearly all busy takes them at once instead of waiting for more room."""
        ...

    async def backlog(self) -> int:
        """Entries published and not yet taken (used to decide whether a sweep is needed)."""
        ...

    async def open_since_ms(self) -> int | None:
        """When the oldest entry still open here (published and not yet acknowledged) was
        published, in ms since the epoch; None when nothing is open. An id published well before
        it and never claimed has no entry left: its entry was lost (Redis restarted without
        persistence or was flushed, or the publish failed after the commit), and only the sweeper
        can bring it back, however long the queue stays busy."""
        ...

    def announce(self, topic: str) -> None:
        """Tell the `listen`ers of `topic` (`WEBHOOKS`, `CONVERSATIONS`) in every process that
        work was committed. Fire and forget: an announcement lost leaves the work to their poll."""
        ...

    async def listen(self, handlers: Mapping[str, Callable[[], None]]) -> None:
        """Call `handlers[topic]()` for each announcement of a topic, until cancelled."""
        ...

    async def aclose(self) -> None: ...


class Limiter(Protocol):
    """A throughput cap: `acquire(n)` returns when n more messages may go out; a `priority`
    caller is served before bulk callers already waiting."""

    async def acquire(self, n: int = 1, *, priority: bool = False) -> None: ...
