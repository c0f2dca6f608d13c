"""RedisStreamsDispatchQueue: ids a worker took and never acknowledged are not stranded in it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from redis.asyncio import Redis

from tidings.queue.redis_streams import RedisStreamsDispatchQueue

QueueFactory = Callable[..., RedisStreamsDispatchQueue]
GROUP = "workers"


async def test_a_take_never_acked_is_handed_out_again_by_the_same_worker(
    make_queue: QueueFactory, redis: Redis, stream: str
) -> None:
    """A take whose claim failed (PostgreSQL dropped the connection; the dispatch step raised)
    is never acked. Its entry stays pending for this consumer; once idle past claim_idle_ms this
    worker's own XAUTOCLAIM takes it back, and it must then hand the ids out again: it used to
    skip an entry it still counted as held, so with one worker the ids were stranded until the
    process restarted, and the pending entry kept the backlog above 0 for good (so the sweeper
    never republished lost queue entries either)."""
    queue = make_queue("only", ids_per_entry=4, claim_idle_ms=200, claim_every_ms=50)
    await queue.publish([1, 2, 3, 4, 5, 6])
    dropped = await queue.take(256, 1.0)
    assert dropped is not None and dropped.ids == [1, 2, 3, 4, 5, 6]
    await asyncio.sleep(0.3)

    again = None
    for _ in range(20):
        again = await queue.take(256, 0.05)
        if again is not None:
            break
    assert again is not None and sorted(again.ids) == [1, 2, 3, 4, 5, 6]
    await queue.ack(again)
    assert int((await redis.xpending(stream, GROUP))["pending"]) == 0
    assert await queue.backlog() == 0

    # The first take's late ack (its claim finished after all) changes nothing more.
    await queue.ack(dropped)
    assert await queue.backlog() == 0


async def test_a_late_ack_of_a_take_handed_out_again_does_not_ack_the_new_one(
    make_queue: QueueFactory, redis: Redis, stream: str
) -> None:
    """The old take's ack must not count for the ids handed out again: the entry stays pending
    until the new take is acked, so a worker dying meanwhile still leaves it to be recovered."""
    queue = make_queue("only", ids_per_entry=4, claim_idle_ms=200, claim_every_ms=50)
    await queue.publish([1, 2, 3, 4])
    old = await queue.take(256, 1.0)
    assert old is not None
    await asyncio.sleep(0.3)
    new = None
    for _ in range(20):
        if (new := await queue.take(256, 0.05)) is not None:
            break
    assert new is not None and new.ids == [1, 2, 3, 4]
    await queue.ack(old)
    assert int((await redis.xpending(stream, GROUP))["pending"]) == 1
    await queue.ack(new)
    assert int((await redis.xpending(stream, GROUP))["pending"]) == 0
