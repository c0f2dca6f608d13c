"""Stopping a background task: cancel it and wait until it has really ended.

`task.cancel(); await task` is not enough on Python 3.11: there a cancellation can be lost.
`asyncio.wait_for` returns the awaited result instead of raising CancelledError when the result
arrives in the same turn of the loop as the cancel (python/cpython#86296, fixed in 3.12), and
libraries use it inside (aiosmtplib waits for every SMTP reply that way). A task whose loop then
goes on to wait for more work waits for ever, and so does whoever stopped it: a sandbox mail
server stopped just as its retrier's SMTP transaction ended never finished stopping. So a task
still running `recancel_after_s` after the cancel is cancelled again, until it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

__all__ = ["RECANCEL_AFTER_S", "cancel_and_wait"]

RECANCEL_AFTER_S = 1.0


async def cancel_and_wait(tasks: asyncio.Task[object] | Iterable[asyncio.Task[object]] | None, *,
                          recancel_after_s: float = RECANCEL_AFTER_S) -> None:
    """Cancel `tasks` and return once every one has ended, cancelling again each one still
    running after `recancel_after_s` (its clean-up, if it does any after the cancel, has that
    long). A task's own exception, other than its cancellation, is raised here."""
    if tasks is None:
        return
    pending = {tasks} if isinstance(tasks, asyncio.Task) else set(tasks)
    everyone = list(pending)
    for task in pending:
        task.cancel()
    while pending:
        _, pending = await asyncio.wait(pending, timeout=recancel_after_s)
        for task in pending:
            task.cancel()
    for task in everyone:
        with contextlib.suppress(asyncio.CancelledError):
            task.result()
