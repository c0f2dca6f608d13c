"""LocalTokenBucket and RedisTokenBucket: rates hold, bursts, debts, cancellation, unlimited.

Timing bounds are deliberately loose (a lower bound from the rate, a generous upper bound) so
a busy machine does not fail them; what they catch is a limiter that does not limit, or one
that serialises far more than its rate says.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from tidings.queue.base import Limiter
from tidings.queue.local_limiter import LocalTokenBucket
from tidings.queue.redis_limiter import QueueError, RedisTokenBucket


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def timed(*coros: object) -> float:
    started = time.monotonic()
    await asyncio.gather(*coros)  # type: ignore[arg-type]
    return time.monotonic() - started


async def acquire_many(limiter: Limiter, count: int, n: int = 1) -> None:
    for _ in range(count):
        await limiter.acquire(n)


# -- local -------------------------------------------------------------------------------------


async def test_local_bucket_refills_at_its_rate_up_to_burst() -> None:
    clock = ManualClock()
    bucket = LocalTokenBucket(10, burst=5, clock=clock)
    assert bucket.available == 5
    clock.now += 0.2
    assert bucket.available == 5  # never above burst
    await bucket.acquire(5)
    assert bucket.available == 0
    clock.now += 0.25
    assert bucket.available == pytest.approx(2.5)
    clock.now += 10
    assert bucket.available == 5


async def test_local_bucket_holds_its_rate() -> None:
    bucket = LocalTokenBucket(100, burst=10)
    elapsed = await timed(acquire_many(bucket, 30), acquire_many(bucket, 30))
    # 60 tokens, 10 up front, 50 at 100/s: at least 0.5 s.
    assert 0.45 <= elapsed < 2.5


async def test_local_bucket_burst_is_immediate() -> None:
    bucket = LocalTokenBucket(1, burst=20)
    assert await timed(acquire_many(bucket, 20)) < 0.2


async def test_local_bucket_takes_more_than_burst_by_waiting_longer() -> None:
    bucket = LocalTokenBucket(50, burst=1)
    await bucket.acquire(1)
    # 10 tokens from an empty bucket at 50/s: 0.2 s.
    elapsed = await timed(bucket.acquire(10))
    assert 0.18 <= elapsed < 1.5


async def test_local_bucket_gives_back_a_cancelled_callers_tokens() -> None:
    bucket = LocalTokenBucket(10, burst=1)
    await bucket.acquire(1)
    waiter = asyncio.create_task(bucket.acquire(5))
    await asyncio.sleep(0.02)
    assert bucket.available < -4
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert -0.5 < bucket.available <= 1


async def test_local_bucket_rate_zero_is_unlimited() -> None:
    bucket = LocalTokenBucket(0)
    assert await timed(acquire_many(bucket, 10_000, n=50)) < 1.0
    assert bucket.available == float("inf")


def test_local_bucket_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        LocalTokenBucket(-1)
    with pytest.raises(ValueError):
        LocalTokenBucket(10, burst=0)


# -- redis -------------------------------------------------------------------------------------


async def test_redis_bucket_rate_holds_across_two_clients(redis_url: str, prefix: str) -> None:
    key = prefix + "mps"
    clients = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
    try:
        buckets = [RedisTokenBucket(c, key, rate=40, burst=4) for c in clients]
        done: list[float] = []
        started = time.monotonic()

        async def send(bucket: RedisTokenBucket, count: int) -> None:
            for _ in range(count):
                await bucket.acquire()
                done.append(time.monotonic() - started)

        await asyncio.gather(send(buckets[0], 30), send(buckets[1], 30))
        elapsed = time.monotonic() - started
    finally:
        for c in clients:
            await c.aclose()
    # 60 tokens, 4 up front, 56 at 40/s: at least 1.4 s however the two clients interleave.
    assert 1.3 <= elapsed < 5.0
    # Never ahead of the rate: by time t at most burst + rate * t acquisitions (+1 for rounding).
    for count, at in enumerate(sorted(done), start=1):
        assert count <= 4 + 40 * at + 1


async def test_redis_bucket_takes_more_than_burst_by_waiting_longer(redis: Redis, prefix: str) -> None:
    bucket = RedisTokenBucket(redis, prefix + "big", rate=20, burst=2)
    await bucket.acquire(2)
    elapsed = await timed(bucket.acquire(6))  # 6 tokens at 20/s from empty: 0.3 s
    assert 0.25 <= elapsed < 2.0


async def test_redis_bucket_state_expires_once_full_again(redis: Redis, prefix: str) -> None:
    key = prefix + "ttl"
    bucket = RedisTokenBucket(redis, key, rate=100, burst=10)
    await bucket.acquire(10)
    ttl = await redis.pttl(key)
    # Refilling 10 tokens at 100/s takes 100 ms; the key lives that long plus a second.
    assert 900 < ttl <= 1100


async def test_redis_bucket_gives_back_a_cancelled_callers_tokens(redis: Redis, prefix: str) -> None:
    key = prefix + "cancel"
    bucket = RedisTokenBucket(redis, key, rate=2, burst=1)
    await bucket.acquire(1)
    waiter = asyncio.create_task(bucket.acquire(4))
    await asyncio.sleep(0.05)
    assert float(await redis.hget(key, "tokens") or 0) < -3.5
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert -0.5 < float(await redis.hget(key, "tokens") or 0) <= 1


async def test_redis_bucket_rate_zero_is_unlimited_and_never_touches_redis(redis: Redis, prefix: str) -> None:
    key = prefix + "free"
    bucket = RedisTokenBucket(redis, key, rate=0, burst=1)
    assert await timed(acquire_many(bucket, 10_000, n=5)) < 1.0
    assert await redis.exists(key) == 0


async def test_redis_bucket_errors_are_mapped() -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(QueueError):
            await RedisTokenBucket(client, "k", rate=10).acquire()
    finally:
        await client.aclose()
