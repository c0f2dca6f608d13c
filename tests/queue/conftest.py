"""Fixtures for the Redis-backed queue and limiter tests.

They use the test Redis (`tidings.testing.services.REDIS_URL`, database 15) and touch only keys
under a random per-test prefix, deleted afterwards (never FLUSHDB/FLUSHALL: other suites share
the server). Without Redis the tests skip with a message, except in CI where they fail.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlparse

import pytest
from redis.asyncio import Redis

from tidings.queue.redis_streams import RedisStreamsDispatchQueue
from tidings.testing.services import REDIS_URL, require

QueueFactory = Callable[..., RedisStreamsDispatchQueue]


@pytest.fixture
def redis_url() -> str:
    parsed = urlparse(REDIS_URL)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 6379
    require("the Redis queue tests (Redis)", host, port)
    return REDIS_URL


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    value = f"tidings-test:{uuid.uuid4().hex[:12]}:"
    yield value
    keys = [key async for key in redis.scan_iter(match=value + "*", count=1000)]
    if keys:
        await redis.delete(*keys)


@pytest.fixture
def stream(prefix: str) -> str:
    return prefix + "dispatch"


@pytest.fixture
async def make_queue(redis_url: str, stream: str) -> AsyncIterator[QueueFactory]:
    queues: list[RedisStreamsDispatchQueue] = []

    def factory(consumer: str, **options: Any) -> RedisStreamsDispatchQueue:
        queue = RedisStreamsDispatchQueue(redis_url, stream=stream, consumer=consumer, **options)
        queues.append(queue)
        return queue

    yield factory
    for queue in queues:
        await queue.aclose()
