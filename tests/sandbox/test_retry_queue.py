"""A retry queue stopped at the moment its receiver answers stops (the answer is kept)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from tidings.sandbox.retry_queue import RetryQueue


@dataclass(eq=False)
class Entry:
    destination: str
    first_ms: int
    attempts: int = 0


async def test_a_stop_as_the_receiver_answers_returns_and_keeps_the_answer() -> None:
    """The send waits for the answer with asyncio.wait_for, as aiosmtplib does; on Python 3.11 the
    answer arriving in the stop's own loop turn swallowed the stop's cancel, and the queue's task
    then waited for more work for ever (the sandbox mail server's stop never returned)."""
    answer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    trying = asyncio.Event()

    async def send(entry: Entry) -> str | None:
        trying.set()
        await asyncio.wait_for(answer, 10)
        return None

    queue: RetryQueue[Entry] = RetryQueue("test", send, lambda: int(time.time() * 1000))
    queue.start()
    queue.take_back([Entry("mx.test", first_ms=0)])
    async with asyncio.timeout(5):
        await trying.wait()
    answer.set_result(None)
    stopping = asyncio.get_running_loop().create_task(queue.stop())
    done, _ = await asyncio.wait({stopping}, timeout=5)
    stopping.cancel()  # gets the task out of a stop that did not end, after the assertion below
    assert done, "the stop did not return"
    assert len(queue) in (0, 1)  # taken, or cut short and still owed: never lost
    assert len(queue) == 1 - queue.delivered
