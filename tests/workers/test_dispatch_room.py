"""The dispatch worker's wait for free send slots, and the priority ids that cut it short."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from tidings.queue.local import LocalDispatchQueue
from tidings.workers.dispatch import DispatchWorker


def worker_with_busy_slots(queue: LocalDispatchQueue, busy: int) -> DispatchWorker:
    ctx: Any = SimpleNamespace(db=None, clock=lambda: 0, dispatch=queue)
    worker = DispatchWorker(ctx, router=None, writer=None, concurrency=8, take=8)  # type: ignore[arg-type]
    worker._in_flight = busy
    return worker


def finishes_without_waiting(coro: Any) -> int | None:
    """The coroutine's result if it completes without suspending, else None (and it is closed)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    return None


async def test_few_free_slots_wait_for_more_but_a_waiting_priority_id_takes_them_at_once() -> None:
    queue = LocalDispatchQueue()
    worker = worker_with_busy_slots(queue, busy=7)  # 1 slot free; "enough" is 2
    assert finishes_without_waiting(worker._room(5.0)) is None
    await queue.publish([1, 2, 3])
    assert finishes_without_waiting(worker._room(5.0)) is None  # bulk ids: still worth waiting
    await queue.publish([99], priority=True)
    assert queue.priority_pending()
    assert finishes_without_waiting(worker._room(5.0)) == 1


async def test_no_free_slot_waits_even_for_a_priority_id() -> None:
    queue = LocalDispatchQueue()
    await queue.publish([99], priority=True)
    worker = worker_with_busy_slots(queue, busy=8)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(worker._room(5.0), 0.05)


async def test_priority_pending_clears_once_the_priority_ids_are_taken() -> None:
    queue = LocalDispatchQueue()
    await queue.publish([1], priority=True)
    await queue.publish([2])
    taken = await queue.take(10, 0.1)
    assert taken is not None and taken.ids == [1] and taken.priority
    assert not queue.priority_pending()


async def test_slots_promised_to_claims_being_prepared_are_not_offered_again() -> None:
    """Claims prepared in parallel reserve their send slots before taking: another claim sees
    only what is left, so together they never take more than the worker can send."""
    queue = LocalDispatchQueue()
    worker = worker_with_busy_slots(queue, busy=2)
    assert finishes_without_waiting(worker._room(5.0)) == 6
    worker._reserved = 5  # a claim in preparation holds 5 of the 6 free slots
    assert finishes_without_waiting(worker._room(5.0)) is None  # 1 left: wait for more
    worker._reserved = 6
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(worker._room(5.0), 0.05)
