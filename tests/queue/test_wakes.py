"""Wake-ups across processes (`announce`/`listen`): over Redis pub/sub between two queues with
clients of their own, as an API process and a worker have, and in-process on the local queue."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from urllib.parse import urlparse

import pytest
from redis.asyncio import Redis

from tidings.queue.base import CONVERSATIONS, WEBHOOKS
from tidings.queue.local import LocalDispatchQueue
from tidings.queue.redis_streams import RedisStreamsDispatchQueue
from tidings.queue.redis_wakes import RedisWakes
from tidings.tasks import cancel_and_wait
from tidings.testing.relay import FreezingRelay

QueueFactory = Callable[..., RedisStreamsDispatchQueue]


class Calls:
    """Counts the calls of each topic's handler; `until` waits for a count."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._changed = asyncio.Event()

    def handler(self, topic: str) -> Callable[[], None]:
        def called() -> None:
            self.counts[topic] += 1
            self._changed.set()
        return called

    async def until(self, topic: str, count: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while self.counts[topic] < count:
                self._changed.clear()
                await self._changed.wait()


async def listening(queue: RedisStreamsDispatchQueue | LocalDispatchQueue, calls: Calls) -> asyncio.Task[None]:
    """A listener of both topics, subscribed (its handlers called once on subscribing)."""
    task = asyncio.create_task(queue.listen({WEBHOOKS: calls.handler(WEBHOOKS),
                                             CONVERSATIONS: calls.handler(CONVERSATIONS)}))
    await calls.until(WEBHOOKS, 1)
    await calls.until(CONVERSATIONS, 1)
    return task


async def test_an_announcement_reaches_the_listener_of_its_topic_in_another_process(
        make_queue: QueueFactory) -> None:
    api, worker = make_queue("api"), make_queue("worker")
    calls = Calls()
    task = await listening(worker, calls)
    try:
        api.announce(WEBHOOKS)
        await calls.until(WEBHOOKS, 2)
        assert calls.counts[CONVERSATIONS] == 1  # the other topic's handler was not called
        api.announce(CONVERSATIONS)
        await calls.until(CONVERSATIONS, 2)
        assert calls.counts[WEBHOOKS] == 2
    finally:
        await cancel_and_wait(task)


async def test_every_listener_hears_it_and_a_burst_costs_a_few_publishes(make_queue: QueueFactory) -> None:
    api, first, second = make_queue("api"), make_queue("w1"), make_queue("w2")
    heard = [Calls(), Calls()]
    tasks = [await listening(first, heard[0]), await listening(second, heard[1])]
    try:
        for _ in range(200):  # 200 commits in one loop turn
            api.announce(WEBHOOKS)
        for calls in heard:
            await calls.until(WEBHOOKS, 2)
        await api.wakes.aclose()  # what is still in flight reaches Redis
        assert 1 <= api.wakes.published <= 2, api.wakes.published  # one, and one for those made meanwhile
        await asyncio.sleep(0.2)
        assert all(calls.counts[WEBHOOKS] <= 3 for calls in heard), [c.counts for c in heard]
    finally:
        await cancel_and_wait(tasks)


async def test_a_listener_whose_connection_is_cut_subscribes_again_and_wakes_once(
        redis_url: str, redis: Redis, prefix: str) -> None:
    name = f"wake-test-{uuid.uuid4().hex[:8]}"  # to cut this listener's connection, no other test's
    listener_client = Redis.from_url(redis_url, client_name=name)
    announcer, listener = RedisWakes(redis, prefix), RedisWakes(listener_client, prefix)
    calls = Calls()
    task = asyncio.create_task(listener.listen({WEBHOOKS: calls.handler(WEBHOOKS)}))
    try:
        await calls.until(WEBHOOKS, 1)
        subscribed = [c for c in await redis.client_list() if c.get("name") == name and int(c.get("sub", 0)) > 0]
        assert len(subscribed) == 1, subscribed
        assert await redis.client_kill_filter(_id=subscribed[0]["id"]) == 1
        # Subscribed again: what may have been announced meanwhile is looked for once.
        await calls.until(WEBHOOKS, 2, timeout=10.0)
        announcer.announce(WEBHOOKS)
        await calls.until(WEBHOOKS, 3)
    finally:
        await cancel_and_wait(task)
        await listener_client.aclose()


async def test_a_listener_cut_off_without_a_reset_finds_out_by_its_ping_and_subscribes_again(
        redis_url: str, redis: Redis, prefix: str) -> None:
    relay = FreezingRelay(urlparse(redis_url).port or 6379)
    await relay.start()
    through_relay = Redis.from_url(relay.url(redis_url), socket_connect_timeout=2.0)
    announcer = RedisWakes(redis, prefix)
    listener = RedisWakes(through_relay, prefix, health_check_seconds=0.3)
    calls = Calls()
    task = asyncio.create_task(listener.listen({WEBHOOKS: calls.handler(WEBHOOKS)}))
    try:
        await calls.until(WEBHOOKS, 1)
        await asyncio.sleep(0.8)  # idle past a health check: the ping is answered, nothing changes
        assert calls.counts[WEBHOOKS] == 1
        relay.freeze_all()
        announcer.announce(WEBHOOKS)  # lost on the frozen connection
        # The unanswered ping ends that connection; subscribed again on a new one, the listener
        # wakes once for what it may have missed, and hears announcements again.
        await calls.until(WEBHOOKS, 2, timeout=5.0)
        announcer.announce(WEBHOOKS)
        await calls.until(WEBHOOKS, 3)
    finally:
        await cancel_and_wait(task)
        await through_relay.aclose()
        await relay.stop()


async def test_announcing_with_redis_away_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    wakes = RedisWakes(Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5), "nowhere:")
    with caplog.at_level(logging.WARNING, logger="tidings.queue.redis_wakes"):
        wakes.announce(WEBHOOKS)
        await wakes.aclose()
    assert wakes.published == 0
    assert "the workers' poll will find it" in caplog.text


async def test_a_handler_that_fails_does_not_end_the_listener(make_queue: QueueFactory) -> None:
    api, worker = make_queue("api"), make_queue("worker")
    calls = Calls()
    failing = {"n": 0}

    def fails() -> None:
        failing["n"] += 1
        raise RuntimeError("a bug in one handler")

    task = asyncio.create_task(worker.listen({WEBHOOKS: fails, CONVERSATIONS: calls.handler(CONVERSATIONS)}))
    try:
        await calls.until(CONVERSATIONS, 1)
        api.announce(WEBHOOKS)
        api.announce(CONVERSATIONS)
        await calls.until(CONVERSATIONS, 2)
        assert failing["n"] >= 1
        assert not task.done()
    finally:
        await cancel_and_wait(task)


async def test_the_local_queue_calls_its_own_listeners_until_they_stop() -> None:
    queue = LocalDispatchQueue()
    calls = Calls()
    queue.announce(WEBHOOKS)  # nobody listens yet: nothing happens
    task = asyncio.create_task(queue.listen({WEBHOOKS: calls.handler(WEBHOOKS)}))
    await asyncio.sleep(0)
    queue.announce(WEBHOOKS)
    queue.announce(CONVERSATIONS)  # no handler for it here
    assert calls.counts == Counter({WEBHOOKS: 1})
    await cancel_and_wait(task)
    queue.announce(WEBHOOKS)
    assert calls.counts == Counter({WEBHOOKS: 1})
