"""Priority lanes: verification ids and tokens go ahead of bulk ones, in the in-process queue
and bucket and in their Redis counterparts (the end-to-end check is
tests/api/verification/test_priority.py)."""

from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis

from tidings.queue.local import LocalDispatchQueue
from tidings.queue.local_limiter import LocalTokenBucket
from tidings.queue.redis_limiter import RedisTokenBucket

from .conftest import QueueFactory


async def test_local_queue_hands_out_priority_ids_first() -> None:
    queue = LocalDispatchQueue()
    await queue.publish([1, 2, 3, 4, 5])
    await queue.publish([90, 91], priority=True)
    assert await queue.backlog() == 7
    first = await queue.take(3, 0.1)  # priority ids alone, so their claim is small and prioritised
    assert first is not None and first.ids == [90, 91] and first.priority
    rest = await queue.take(10, 0.1)
    assert rest is not None and rest.ids == [1, 2, 3, 4, 5] and not rest.priority
    assert await queue.take(10, 0.01) is None


async def test_local_queue_wakes_a_waiting_taker_for_a_priority_id() -> None:
    queue = LocalDispatchQueue()
    taker = asyncio.create_task(queue.take(5, 2.0))
    await asyncio.sleep(0.01)
    await queue.publish([7], priority=True)
    taken = await asyncio.wait_for(taker, 1.0)
    assert taken is not None and taken.ids == [7]


async def test_redis_queue_serves_priority_before_bulk_already_held(
    make_queue: QueueFactory, redis: Redis, stream: str
) -> None:
    queue = make_queue("worker", ids_per_entry=8)
    await queue.publish(list(range(1, 65)))  # 8 bulk entries
    first = await queue.take(8, 0.5)
    assert first is not None and first.ids == list(range(1, 9))
    await queue.ack(first)
    # Seven bulk entries are still unread; a code published now is read before any of them.
    await queue.publish([1000], priority=True)
    assert await queue.backlog() == 8  # 7 bulk entries + 1 priority entry
    second = await queue.take(8, 0.5)
    assert second is not None and second.ids[0] == 1000
    await queue.ack(second)
    assert await redis.xlen(stream + ":priority") == 0  # acknowledged and deleted


async def test_redis_queue_priority_overtakes_leftover_bulk_ids(make_queue: QueueFactory) -> None:
    queue = make_queue("worker", ids_per_entry=64)
    await queue.publish(list(range(1, 129)))
    small = await queue.take(2, 0.5)  # reads one entry of 64, keeps 62 in-process
    assert small is not None and small.ids == [1, 2]
    await queue.publish([5000, 5001], priority=True)
    nxt = await queue.take(4, 0.5)
    assert nxt is not None and nxt.ids == [5000, 5001, 3, 4]
    await queue.ack(small)
    await queue.ack(nxt)


async def test_redis_queue_blocked_take_wakes_for_a_priority_publish(make_queue: QueueFactory) -> None:
    consumer = make_queue("worker")
    producer = make_queue("api")
    await consumer.take(1, 0.01)  # joins the groups
    taker = asyncio.create_task(consumer.take(64, 3.0))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await producer.publish([42], priority=True)
    taken = await asyncio.wait_for(taker, 2.0)
    assert taken is not None and taken.ids == [42]
    assert time.monotonic() - started < 1.0
    await consumer.ack(taken)


async def test_local_bucket_serves_a_priority_caller_before_waiting_bulk() -> None:
    bucket = LocalTokenBucket(50, burst=1)
    order: list[str] = []

    async def take(tag: str, priority: bool) -> None:
        await bucket.acquire(1, priority=priority)
        order.append(tag)

    bulk = [asyncio.create_task(take(f"b{i}", False)) for i in range(20)]
    await asyncio.sleep(0.05)  # the first one or two bulk callers went; the rest wait
    assert bucket.waiting[1] >= 15
    started = time.monotonic()
    await take("p", True)
    waited = time.monotonic() - started
    # One token at 50/s: 20 ms, not the 18 bulk callers' 360 ms.
    assert waited < 0.15, waited
    assert order.index("p") <= 4, order
    await asyncio.gather(*bulk)
    assert len(order) == 21


async def test_local_bucket_rate_holds_for_priority_and_bulk_together() -> None:
    bucket = LocalTokenBucket(100, burst=5)
    started = time.monotonic()
    await asyncio.gather(*(bucket.acquire(1, priority=i % 3 == 0) for i in range(45)))
    # 45 tokens, 5 up front, 40 at 100/s: at least 0.4 s whichever line they waited in.
    assert 0.35 <= time.monotonic() - started < 2.0


async def test_local_bucket_cancelled_priority_waiter_leaves_its_line() -> None:
    bucket = LocalTokenBucket(10, burst=1)
    await bucket.acquire(1)
    waiter = asyncio.create_task(bucket.acquire(3, priority=True))
    await asyncio.sleep(0.01)
    assert bucket.waiting == (1, 0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert bucket.waiting == (0, 0)
    assert bucket.available > -0.5


async def test_redis_bucket_priority_lane_skips_bulk_debt(redis: Redis, prefix: str) -> None:
    bucket = RedisTokenBucket(redis, prefix + "lane", rate=20, burst=1)
    bulk = [asyncio.create_task(bucket.acquire(1)) for _ in range(20)]  # ~1 s of bulk debt
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await bucket.acquire(1, priority=True)
    assert time.monotonic() - started < 0.5  # not behind the ~1 s of bulk debt (slack for a loaded machine)
    # ... and it pushed later bulk reservations back by its token.
    tokens = float(await redis.hget(prefix + "lane", "tokens") or 0)
    assert tokens < -18
    for task in bulk:
        task.cancel()
    await asyncio.gather(*bulk, return_exceptions=True)


async def test_redis_bucket_priority_callers_pace_each_other(redis: Redis, prefix: str) -> None:
    bucket = RedisTokenBucket(redis, prefix + "plane", rate=40, burst=2)
    started = time.monotonic()
    await asyncio.gather(*(bucket.acquire(1, priority=True) for _ in range(22)))
    # 22 tokens, 2 up front, 20 at 40/s: at least 0.5 s.
    assert 0.45 <= time.monotonic() - started < 3.0
