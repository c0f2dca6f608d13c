from __future__ import annotations

import asyncio

import pytest

from tidings.smpp import Backoff, CommandStatus, TokenBucket, is_transient


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills_at_rate_up_to_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, burst=5, clock=clock)
    assert bucket.available == 5
    clock.now = 100.0
    assert bucket.available == 5
    bucket._tokens = 0
    clock.now += 0.3
    assert bucket.available == pytest.approx(3)


async def test_token_bucket_paces_concurrent_callers() -> None:
    rate = 200.0
    bucket = TokenBucket(rate, burst=1)
    loop = asyncio.get_running_loop()
    start = loop.time()
    count = 40
    await asyncio.gather(*(bucket.acquire() for _ in range(count)))
    elapsed = loop.time() - start
    # 39 tokens beyond the first at 200/s need 0.195 s; allow generous slack on a busy machine.
    assert elapsed >= (count - 1) / rate * 0.9
    assert elapsed < 2.0


async def test_cancelled_waiter_returns_its_tokens() -> None:
    bucket = TokenBucket(1, burst=1)
    await bucket.acquire()
    waiter = asyncio.create_task(bucket.acquire())
    await asyncio.sleep(0.01)
    assert bucket.available < 0
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert bucket.available > -0.5


async def test_token_bucket_rejects_impossible_requests() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0)
    with pytest.raises(ValueError):
        await TokenBucket(5, burst=2).acquire(3)


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    backoff = Backoff(1.0, 8.0, jitter=0.5, rng=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    no_jitter = Backoff(1.0, 8.0, jitter=0.5, rng=lambda: 0.0)
    assert [no_jitter.next_delay() for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert backoff.next_delay() == 0.5


def test_backoff_jitter_stays_within_bounds() -> None:
    backoff = Backoff(0.1, 1.0)
    delays = [backoff.next_delay() for _ in range(50)]
    assert all(0.05 <= delay <= 1.0 for delay in delays)
    assert max(delays) > 0.5


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        (CommandStatus.ESME_RTHROTTLED, True),
        (CommandStatus.ESME_RMSGQFUL, True),
        (CommandStatus.ESME_RSYSERR, True),
        (CommandStatus.ESME_RX_T_APPN, True),
        (CommandStatus.ESME_RINVBNDSTS, True),
        (CommandStatus.ESME_RINVDSTADR, False),
        (CommandStatus.ESME_RX_P_APPN, False),
        (CommandStatus.ESME_RINVPASWD, False),
        (CommandStatus.ESME_RSUBMITFAIL, False),
        (0x0400, False),
    ],
)
def test_is_transient(status: int, transient: bool) -> None:
    assert is_transient(status) is transient
