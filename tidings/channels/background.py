"""Work a connector starts after answering and must not lose at a stop.

Some platforms give no delivery receipt (email hands off to a smarthost, Telegram's Bot API
answers with the message it stored): their connectors report DELIVERED just after `send`
returns, so the caller has recorded the send first. Others do small follow-ups (an RCS read
receipt). `BackgroundTasks` holds such tasks so a stop waits for them — up to a bound, after
which what is left is cancelled and logged — instead of dropping them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from tidings.channels.contract import ChannelEventSink, StatusEvent
from tidings.tasks import cancel_and_wait

log = logging.getLogger(__name__)

STOP_TIMEOUT = 5.0
"""How long a stop waits for the tasks under way."""


class BackgroundTasks:
    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def report_delivered(self, channel: str, channel_message_id: str, sink: Callable[[], ChannelEventSink | None],
                         clock: Callable[[], int]) -> None:
        """DELIVERED for a message the platform took, once the caller has recorded its send."""
        self.spawn(self._delivered(channel, channel_message_id, sink, clock))

    async def _delivered(self, channel: str, channel_message_id: str,
                         sink: Callable[[], ChannelEventSink | None], clock: Callable[[], int]) -> None:
        await asyncio.sleep(0)  # after the caller has recorded the SendResult
        target = sink()
        if target is None:
            return
        try:
            await target.accept([StatusEvent(channel, channel_message_id, "DELIVERED", clock())])
        except Exception:
            log.exception("%s: recording DELIVERED for %s failed", self.name, channel_message_id)

    async def aclose(self, timeout: float = STOP_TIMEOUT) -> None:
        """Wait for the tasks under way (and any they start), then cancel what outlasts `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await asyncio.wait(list(self._tasks), timeout=remaining)
        left = list(self._tasks)
        if left:
            log.warning("%s: %d background tasks cancelled at the stop after %.0fs", self.name, len(left), timeout)
            with contextlib.suppress(Exception):  # each task logs its own failure
                await cancel_and_wait(left)
