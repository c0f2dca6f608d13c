"""RedisStreamsDispatchQueue against a real Redis: delivery, sharing, recovery, trimming."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import pytest
from redis.asyncio import Redis

from tidings.queue.base import Taken
from tidings.queue.redis_streams import PUBLISH_RETRY_SECONDS, QueueError, RedisStreamsDispatchQueue
from tidings.testing.relay import FreezingRelay

CONSUMER_SCRIPT = str(Path(__file__).with_name("consumer_process.py"))
GROUP = "workers"

QueueFactory = Callable[..., RedisStreamsDispatchQueue]


async def drain(queue: RedisStreamsDispatchQueue, max_items: int = 256, timeout: float = 0.05) -> list[int]:
    got: list[int] = []
    while (taken := await queue.take(max_items, timeout)) is not None:
        got.extend(taken.ids)
        await queue.ack(taken)
    return got


async def pending_count(redis: Redis, stream: str) -> int:
    info = await redis.xpending(stream, GROUP)
    return int(info["pending"])


async def test_round_trip_in_order_and_trimmed(make_queue: QueueFactory, redis: Redis, stream: str) -> None:
    queue = make_queue("a", ids_per_entry=64)
    ids = list(range(1, 151))
    await queue.publish(ids)
    assert await redis.xlen(stream) == 3  # 64 + 64 + 22 ids
    assert await queue.backlog() == 3

    taken = await queue.take(256, 1.0)
    assert taken is not None
    assert taken.ids == ids
    assert await queue.backlog() == 3  # delivered, not yet acknowledged: still pending
    assert await pending_count(redis, stream) == 3

    await queue.ack(taken)
    assert await queue.backlog() == 0
    assert await pending_count(redis, stream) == 0
    assert await redis.xlen(stream) == 0  # acknowledged entries are deleted
    assert await queue.take(256, 0.05) is None


async def test_open_since_is_the_oldest_entry_not_acknowledged_in_either_stream(
    make_queue: QueueFactory, redis: Redis, stream: str
) -> None:
    """The oldest open entry's time: read or not, until acknowledged; the priority stream too."""
    queue = make_queue("a", ids_per_entry=64)
    assert await queue.open_since_ms() is None
    before = int(time.time() * 1000)
    await queue.publish([1, 2])
    await asyncio.sleep(0.02)
    await queue.publish([3], priority=True)
    oldest = await queue.open_since_ms()
    assert oldest is not None and before - 1000 <= oldest <= int(time.time() * 1000) + 1000
    first = await queue.take(1, 1.0)  # the priority id: its entry is the newer one
    assert first is not None and first.ids == [3]
    await queue.ack(first)
    assert await queue.open_since_ms() == oldest
    rest = await queue.take(10, 1.0)
    assert rest is not None and rest.ids == [1, 2]
    assert await queue.open_since_ms() == oldest  # read, not acknowledged: still open
    await queue.ack(rest)
    assert await queue.open_since_ms() is None
    await queue.publish([4])
    await redis.delete(stream)  # Redis lost it
    assert await queue.open_since_ms() is None


async def test_take_respects_max_items_and_acks_an_entry_once_all_its_ids_are_acked(
    make_queue: QueueFactory, redis: Redis, stream: str
) -> None:
    queue = make_queue("a", ids_per_entry=10)
    await queue.publish(list(range(10)))
    first = await queue.take(4, 1.0)
    second = await queue.take(4, 1.0)
    third = await queue.take(4, 1.0)
    assert first is not None and second is not None and third is not None
    assert (first.ids, second.ids, third.ids) == ([0, 1, 2, 3], [4, 5, 6, 7], [8, 9])

    await queue.ack(first)
    await queue.ack(third)
    assert await pending_count(redis, stream) == 1
    assert await redis.xlen(stream) == 1
    await queue.ack(second)
    assert await pending_count(redis, stream) == 0
    assert await redis.xlen(stream) == 0


async def test_take_reads_whole_entries_up_to_max_items(make_queue: QueueFactory) -> None:
    queue = make_queue("a", ids_per_entry=16)
    await queue.publish(list(range(100)))
    taken = await queue.take(40, 1.0)  # 40 // 16 = 2 entries
    assert taken is not None
    assert taken.ids == list(range(32))
    await queue.ack(taken)


async def test_take_reads_more_entries_when_they_hold_one_id_each(make_queue: QueueFactory, redis: Redis,
                                                                   stream: str) -> None:
    """Single-recipient sends publish one id per entry: after a few reads a take gets as many ids
    as it asks for (at most MAX_ENTRIES_PER_READ entries a read), not max_items // ids_per_entry."""
    producer, queue = make_queue("producer", ids_per_entry=64), make_queue("a", ids_per_entry=64)
    for i in range(600):
        await producer.publish([i])
    assert await redis.xlen(stream) == 600
    sizes, got = [], []
    while (taken := await queue.take(256, 0.05)) is not None:
        sizes.append(len(taken.ids))
        got.extend(taken.ids)
        await queue.ack(taken)
    assert got == list(range(600))  # each once, in order
    assert sizes[0] == 4  # 256 // 64 while nothing was read yet
    assert max(sizes) == 64  # one read's entries
    assert len(sizes) < 20  # was 150 takes of 4
    # Full entries again: the reads shrink back to max_items // ids_per_entry entries.
    await producer.publish(list(range(1000, 1000 + 64 * 40)))
    sizes = []
    while (taken := await queue.take(256, 0.05)) is not None:
        sizes.append(len(taken.ids))
        await queue.ack(taken)
    assert sum(sizes) == 64 * 40 and sizes[-3:] == [256, 256, 256]
    assert await redis.xlen(stream) == 0


async def test_take_waits_for_a_publish_then_times_out(make_queue: QueueFactory) -> None:
    consumer = make_queue("a")
    producer = make_queue("producer")
    started = time.monotonic()
    assert await consumer.take(10, 0.2) is None
    assert time.monotonic() - started >= 0.15

    waiting = asyncio.create_task(consumer.take(10, 5.0))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await producer.publish([7, 8])
    taken = await asyncio.wait_for(waiting, 5.0)
    assert taken is not None and taken.ids == [7, 8]


async def test_two_consumers_share_the_work_without_overlap(make_queue: QueueFactory, redis: Redis, stream: str) -> None:
    producer = make_queue("producer", ids_per_entry=16)
    a = make_queue("a", ids_per_entry=16)
    b = make_queue("b", ids_per_entry=16)
    ids = list(range(1, 2001))
    await producer.publish(ids)

    async def consume(queue: RedisStreamsDispatchQueue) -> list[int]:
        got: list[int] = []
        while (taken := await queue.take(32, 0.1)) is not None:
            got.extend(taken.ids)
            await queue.ack(taken)
            await asyncio.sleep(0.001)
        return got

    got_a, got_b = await asyncio.gather(consume(a), consume(b))
    assert got_a and got_b
    assert not set(got_a) & set(got_b)
    assert sorted(got_a + got_b) == ids
    assert await redis.xlen(stream) == 0


async def test_many_processes_share_the_work(redis_url: str, stream: str, make_queue: QueueFactory) -> None:
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, CONSUMER_SCRIPT, redis_url, stream, f"proc-{i}", "drain",
            stdout=asyncio.subprocess.PIPE,
        )
        for i in range(3)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line.strip() == b"ready"
        ids = list(range(1, 3001))
        await make_queue("producer", ids_per_entry=8).publish(ids)
        outputs = [await asyncio.wait_for(proc.communicate(), 60) for proc in procs]
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    shares = [json.loads(out) for out, _ in outputs]
    assert all(proc.returncode == 0 for proc in procs)
    assert sum(len(s) for s in shares) == len(ids)  # nothing delivered twice
    assert sorted(i for s in shares for i in s) == ids
    assert sum(1 for s in shares if s) >= 2


async def test_entries_of_a_killed_consumer_are_recovered_after_claim_idle(
    redis_url: str, redis: Redis, stream: str, make_queue: QueueFactory
) -> None:
    producer = make_queue("producer", ids_per_entry=8)
    await producer.publish(list(range(1, 17)))  # 2 entries: the dead consumer takes both
    proc = await asyncio.create_subprocess_exec(
        sys.executable, CONSUMER_SCRIPT, redis_url, stream, "doomed", "hold",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        held = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
    assert held == list(range(1, 17))
    await producer.publish([100])

    survivor = make_queue("survivor", claim_idle_ms=1500, claim_every_ms=100, consumer_ttl_ms=300)
    first = await survivor.take(64, 0.2)
    assert first is not None and first.ids == [100]  # the dead one's entries are not idle yet
    await survivor.ack(first)

    recovered: list[int] = []
    deadline = time.monotonic() + 10
    while len(recovered) < len(held) and time.monotonic() < deadline:
        taken = await survivor.take(64, 0.1)
        if taken is not None:
            recovered.extend(taken.ids)
            await survivor.ack(taken)
    assert sorted(recovered) == held
    assert survivor.recovered == 2
    assert await pending_count(redis, stream) == 0
    assert await redis.xlen(stream) == 0

    # The dead consumer, now with nothing pending, is removed once silent past consumer_ttl_ms.
    deadline = time.monotonic() + 10
    names: set[str] = {"doomed"}
    while "doomed" in names and time.monotonic() < deadline:
        await survivor.take(64, 0.1)
        names = {c["name"].decode() for c in await redis.xinfo_consumers(stream, GROUP)}
    assert "doomed" not in names
    assert "survivor" in names


async def test_a_live_consumers_entries_are_not_taken_before_claim_idle(
    make_queue: QueueFactory, redis: Redis, stream: str
) -> None:
    producer = make_queue("producer", ids_per_entry=8)
    slow = make_queue("slow", ids_per_entry=8)
    other = make_queue("other", ids_per_entry=8, claim_idle_ms=10_000, claim_every_ms=0)
    await producer.publish(list(range(8)))
    held = await slow.take(8, 1.0)
    assert held is not None
    assert await other.take(8, 0.2) is None
    assert other.recovered == 0
    # The sweeper must not republish: the entry is still outstanding work.
    assert await other.backlog() == 1
    await slow.ack(held)
    assert await other.backlog() == 0


async def test_an_idle_entry_is_recovered_only_once(make_queue: QueueFactory) -> None:
    producer = make_queue("producer", ids_per_entry=4)
    await producer.publish([1, 2, 3, 4])
    lost = await make_queue("lost", ids_per_entry=4).take(4, 1.0)
    assert lost is not None
    await asyncio.sleep(0.3)
    a = make_queue("a", ids_per_entry=4, claim_idle_ms=200, claim_every_ms=0)
    b = make_queue("b", ids_per_entry=4, claim_idle_ms=200, claim_every_ms=0)
    got_a, got_b = await asyncio.gather(a.take(4, 0.2), b.take(4, 0.2))
    winners = [t for t in (got_a, got_b) if t is not None]
    assert len(winners) == 1 and winners[0].ids == [1, 2, 3, 4]


async def test_group_is_recreated_when_the_stream_vanishes(
    make_queue: QueueFactory, redis: Redis, stream: str
) -> None:
    queue = make_queue("a")
    await queue.publish([1])
    taken = await queue.take(10, 1.0)
    assert taken is not None
    await queue.ack(taken)
    await redis.delete(stream)  # e.g. Redis restarted without persistence
    await redis.xadd(stream, {b"ids": b"5,6"})  # a publisher that still believes in the group
    taken = await queue.take(10, 1.0)
    assert taken is not None and taken.ids == [5, 6]


async def test_unreadable_entries_are_dropped(make_queue: QueueFactory, redis: Redis, stream: str) -> None:
    queue = make_queue("a")
    await queue.publish([1])
    await redis.xadd(stream, {b"other": b"x"})
    await redis.xadd(stream, {b"ids": b"not,numbers"})
    await queue.publish([2])
    got = await drain(queue, max_items=1000)
    assert got == [1, 2]
    assert await redis.xlen(stream) == 0
    assert await pending_count(redis, stream) == 0


async def test_backlog_counts_when_the_lag_is_unknown(make_queue: QueueFactory, redis: Redis, stream: str) -> None:
    queue = make_queue("a", ids_per_entry=1)
    await queue.publish([1, 2, 3])
    taken = await queue.take(1, 1.0)
    assert taken is not None
    entries = await redis.xrange(stream)
    await redis.xdel(stream, entries[1][0])  # a deletion past the group's position
    groups = await redis.xinfo_groups(stream)
    assert groups[0]["lag"] is None
    assert await queue.backlog() == 2  # the pending entry and the undelivered one


async def test_close_leaves_the_group_only_with_nothing_pending(
    redis_url: str, redis: Redis, stream: str
) -> None:
    tidy = RedisStreamsDispatchQueue(redis_url, stream=stream, consumer="tidy", ids_per_entry=1)
    holding = RedisStreamsDispatchQueue(redis_url, stream=stream, consumer="holding", ids_per_entry=1)
    await tidy.publish([1, 2])
    taken = await tidy.take(1, 1.0)
    assert taken is not None
    await tidy.ack(taken)
    assert await holding.take(1, 1.0) is not None
    await tidy.aclose()
    await holding.aclose()
    consumers = {c["name"].decode(): c["pending"] for c in await redis.xinfo_consumers(stream, GROUP)}
    assert consumers == {"holding": 1}


async def test_redis_errors_are_mapped() -> None:
    queue = RedisStreamsDispatchQueue("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(QueueError):
            await queue.publish([1])
        with pytest.raises(QueueError):
            await queue.take(1, 0.01)
        with pytest.raises(QueueError):
            await queue.ack(Taken([1], ["1-0/1"]))
    finally:
        await queue.aclose()


async def test_publishes_of_one_moment_share_a_round_trip_and_entries(make_queue: QueueFactory, redis: Redis,
                                                                       stream: str) -> None:
    """Fifty single sends answered at once: one pipeline, entries of up to ids_per_entry ids, every
    id delivered once and in the order published; a failed round fails each of its publishers."""
    producer, queue = make_queue("producer", ids_per_entry=16), make_queue("a", ids_per_entry=16)
    await asyncio.gather(*(producer.publish([i]) for i in range(50)))
    assert await redis.xlen(stream) == 4  # 16 + 16 + 16 + 2, not 50
    assert await drain(queue) == list(range(50))
    await asyncio.gather(*(producer.publish([100 + i], priority=i % 2 == 0) for i in range(6)))
    assert await redis.xlen(stream + ":priority") == 1 and await redis.xlen(stream) == 1
    assert sorted(await drain(queue)) == list(range(100, 106))

    broken = RedisStreamsDispatchQueue("redis://127.0.0.1:1/0")
    try:
        outcomes = await asyncio.gather(*(broken.publish([i]) for i in range(5)), return_exceptions=True)
        assert all(isinstance(o, QueueError) for o in outcomes)
    finally:
        await broken.aclose()


async def test_default_consumer_names_are_unique(redis_url: str) -> None:
    a = RedisStreamsDispatchQueue(redis_url)
    b = RedisStreamsDispatchQueue(redis_url)
    try:
        assert a.consumer != b.consumer
        assert str(os.getpid()) in a.consumer
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_take_on_a_connection_cut_without_a_reset_fails_and_the_next_reconnects(
        redis_url: str, make_queue: QueueFactory, stream: str) -> None:
    """Not held for as long as TCP keepalive would take: the command times out, its connection
    is dropped, and the next take opens a new one."""
    relay = FreezingRelay(urlparse(redis_url).port or 6379)
    await relay.start()
    producer = make_queue("producer")
    worker = RedisStreamsDispatchQueue(relay.url(redis_url), stream=stream, consumer="worker",
                                       socket_timeout=0.5)
    try:
        await producer.publish([1, 2])
        taken = await worker.take(10, 1.0)  # a timeout above the socket's: the block is capped below it
        assert taken is not None and taken.ids == [1, 2]
        await worker.ack(taken)
        relay.freeze_all()
        await producer.publish([3])
        started = time.monotonic()
        with pytest.raises(QueueError):
            await worker.take(10, 0.2)
        assert time.monotonic() - started < 3.0  # the socket timeout set (0.5 s), not a default
        again = await worker.take(10, 1.0)
        assert again is not None and again.ids == [3]
        await worker.ack(again)
    finally:
        await worker.aclose()
        await relay.stop()


async def test_publishes_fail_at_once_for_a_moment_after_one_failed_then_resume(
        redis_url: str, make_queue: QueueFactory, stream: str) -> None:
    """Redis cut off (new connections hang too): one publish waits out the socket timeout; the
    ones after it fail at once until PUBLISH_RETRY_SECONDS have passed and while the next attempt
    is under way, so that the API's sends are not each held that long."""
    relay = FreezingRelay(urlparse(redis_url).port or 6379)
    await relay.start()
    api = RedisStreamsDispatchQueue(relay.url(redis_url), stream=stream, consumer="api", socket_timeout=0.5)
    worker = make_queue("worker")
    try:
        await api.publish([1])
        relay.cut()
        started = time.monotonic()
        with pytest.raises(QueueError):
            await api.publish([2])
        assert time.monotonic() - started >= 0.4  # this one waited out the socket timeout
        started = time.monotonic()
        failed = await asyncio.gather(*(api.publish([n]) for n in range(3, 23)), return_exceptions=True)
        assert all(isinstance(f, QueueError) for f in failed)
        assert time.monotonic() - started < 0.1  # not tried: each would have waited 0.5 s

        await asyncio.sleep(PUBLISH_RETRY_SECONDS)  # the window passes; Redis is still away
        probe = asyncio.ensure_future(api.publish([23]))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(QueueError):
            await api.publish([24])  # while the probe is under way
        assert time.monotonic() - started < 0.1
        with pytest.raises(QueueError):
            await probe

        relay.heal()
        await asyncio.sleep(PUBLISH_RETRY_SECONDS)
        await api.publish([25])  # a new connection: Redis answers, publishes go through again
        await api.publish([26])
        published: list[int] = []
        while (taken := await worker.take(10, 0.5)) is not None:
            published += taken.ids
        assert sorted(published) == [1, 25, 26]
    finally:
        await api.aclose()
        await relay.stop()
