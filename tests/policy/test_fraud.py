"""The fraud guard's rules, each against the in-process store and the Redis store, on a fake clock."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import pytest
from redis.asyncio import Redis

from tidings.policy.fraud import (
    REASONS,
    FraudGuard,
    FraudSettings,
    Limit,
    PumpingAlert,
    Refusal,
)
from tidings.policy.fraud_redis import RedisFraudStore
from tidings.policy.fraud_store import FraudStore, LocalFraudStore
from tidings.queue.redis_streams import QueueError
from tidings.testing.services import REDIS_URL, require

MOBILE = "+46701234567"  # prefix +467012
SAME_PREFIX = "+46701299999"
OTHER_PREFIX = "+46731234567"
UK_MOBILE = "+447911123456"
LANDLINE = "+4930123456"
VOIP = "+445612345678"
PREMIUM = "+449012345678"
SHARED_COST = "+46771234567"
IP = "203.0.113.7"

NO_LIMITS = FraudSettings(per_number=None, per_ip=None, per_project=None, per_prefix=None, per_country=None)


@dataclass
class FakeClock:
    now: int = 1_700_000_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def _redis_store(prefix: str) -> tuple[Redis, RedisFraudStore]:
    require("the Redis fraud store tests (Redis)", "127.0.0.1", 6379)
    client = Redis.from_url(REDIS_URL)
    return client, RedisFraudStore(client, prefix)


@pytest.fixture(params=["local", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[FraudStore]:
    if request.param == "local":
        yield LocalFraudStore()
        return
    prefix = f"tidings-test:{uuid.uuid4().hex[:12]}:"
    client, redis_store = await _redis_store(prefix)
    yield redis_store
    keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def guard(store: FraudStore, clock: FakeClock, **settings: object) -> FraudGuard:
    return FraudGuard(store, replace(NO_LIMITS, **settings), clock=clock)  # type: ignore[arg-type]


def reason(refusal: Refusal | None) -> str | None:
    return refusal.reason if refusal is not None else None


# -- numbers and line types -------------------------------------------------------------------------

async def test_invalid_numbers_are_refused(store: FraudStore, clock: FakeClock) -> None:
    fraud = guard(store, clock)
    for number in ("+999123", "hello", "+4670"):
        assert reason(await fraud.check_start("p", number, IP, "sms")) == "invalid_number"


@pytest.mark.parametrize(("number", "method", "expected"), [
    (PREMIUM, "sms", "premium_rate_number"),
    (PREMIUM, "callout", "premium_rate_number"),
    (PREMIUM, "flashCall", "premium_rate_number"),
    (SHARED_COST, "sms", "premium_rate_number"),
    (LANDLINE, "sms", "landline_number"),
    (LANDLINE, "flashcall", "landline_number"),
    (LANDLINE, "callout", None),
    (VOIP, "sms", "voip_number"),
    (VOIP, "callout", None),
    (VOIP, "flashCall", None),
    (MOBILE, "sms", None),
])
async def test_line_types_refused_by_method(number: str, method: str, expected: str | None, clock: FakeClock) -> None:
    refusal = await guard(LocalFraudStore(), clock).check_start("p", number, IP, method)
    assert reason(refusal) == expected
    if refusal is not None:
        assert number in refusal.message and refusal.retry_after_ms is None


async def test_an_app_may_allow_a_line_type(clock: FakeClock) -> None:
    fraud = guard(LocalFraudStore(), clock)
    assert await fraud.check_start("p", VOIP, IP, "sms", allow_line_types={"voip"}) is None
    assert reason(await fraud.check_start("p", LANDLINE, IP, "sms", allow_line_types={"voip"})) == "landline_number"


async def test_a_line_type_resolver_overrides_the_numbering_plan(clock: FakeClock) -> None:
    live = {MOBILE: "voip"}
    fraud = FraudGuard(LocalFraudStore(), NO_LIMITS, clock=clock, line_type=live.get)
    assert reason(await fraud.check_start("p", MOBILE, IP, "sms")) == "voip_number"
    assert await fraud.check_start("p", UK_MOBILE, IP, "sms") is None


# -- rate limits ------------------------------------------------------------------------------------

async def test_per_number_limit_and_its_window(store: FraudStore, clock: FakeClock) -> None:
    fraud = guard(store, clock, per_number=Limit(3, 60))
    for _ in range(3):
        assert await fraud.check_start("p", MOBILE, IP, "sms") is None
        clock.advance(10)
    refusal = await fraud.check_start("p", MOBILE, IP, "sms")
    assert refusal is not None and refusal.reason == "rate_limited_number"
    assert refusal.retry_after_ms == 30_000  # the first start leaves the window 60 s after it
    assert await fraud.check_start("p", SAME_PREFIX, IP, "sms") is None
    assert await fraud.check_start("other-project", MOBILE, IP, "sms") is None
    clock.advance(30)
    assert await fraud.check_start("p", MOBILE, IP, "sms") is None


async def test_per_ip_limit(store: FraudStore, clock: FakeClock) -> None:
    fraud = guard(store, clock, per_ip=Limit(2, 3600))
    assert await fraud.check_start("p", MOBILE, IP, "sms") is None
    assert await fraud.check_start("p", UK_MOBILE, IP, "sms") is None
    assert reason(await fraud.check_start("p", OTHER_PREFIX, IP, "sms")) == "rate_limited_ip"
    assert await fraud.check_start("p", OTHER_PREFIX, "198.51.100.1", "sms") is None
    assert await fraud.check_start("p", OTHER_PREFIX, None, "sms") is None  # no IP, no IP limit


async def test_per_project_limit(store: FraudStore, clock: FakeClock) -> None:
    fraud = guard(store, clock, per_project=Limit(2, 60))
    assert await fraud.check_start("p", MOBILE, "1.1.1.1", "sms") is None
    assert await fraud.check_start("p", UK_MOBILE, "2.2.2.2", "callout") is None
    assert reason(await fraud.check_start("p", OTHER_PREFIX, "3.3.3.3", "sms")) == "rate_limited_project"
    assert await fraud.check_start("q", OTHER_PREFIX, "3.3.3.3", "sms") is None


async def test_per_prefix_limit(store: FraudStore, clock: FakeClock) -> None:
    fraud = guard(store, clock, per_prefix=Limit(2, 3600))
    assert await fraud.check_start("p", MOBILE, IP, "sms") is None
    assert await fraud.check_start("p", SAME_PREFIX, IP, "sms") is None
    assert reason(await fraud.check_start("p", "+46701200000", IP, "sms")) == "rate_limited_prefix"
    assert await fraud.check_start("p", OTHER_PREFIX, IP, "sms") is None


async def test_per_country_limit(store: FraudStore, clock: FakeClock) -> None:
    fraud = guard(store, clock, per_country=Limit(2, 3600))
    assert await fraud.check_start("p", MOBILE, IP, "sms") is None
    assert await fraud.check_start("p", OTHER_PREFIX, IP, "sms") is None
    assert reason(await fraud.check_start("p", "+46761234567", IP, "sms")) == "rate_limited_country"
    assert await fraud.check_start("p", UK_MOBILE, IP, "sms") is None


async def test_a_refused_start_spends_no_quota_elsewhere(store: FraudStore, clock: FakeClock) -> None:
    fraud = guard(store, clock, per_number=Limit(1, 60), per_ip=Limit(2, 60))
    assert await fraud.check_start("p", MOBILE, IP, "sms") is None
    for _ in range(3):
        assert reason(await fraud.check_start("p", MOBILE, IP, "sms")) == "rate_limited_number"
    assert await fraud.check_start("p", UK_MOBILE, IP, "sms") is None  # the IP's second start


# -- SMS pumping ------------------------------------------------------------------------------------

PUMPING = {"pumping_min_starts": 20, "pumping_min_success_rate": 0.2, "pumping_grace_s": 60,
           "pumping_window_s": 3600, "pumping_block_s": 1800, "pumping_bucket_s": 10}


async def pump(fraud: FraudGuard, count: int, prefix_number: str = MOBILE) -> None:
    base = int(prefix_number[1:])
    for i in range(count):
        assert await fraud.check_start("p", f"+{base + i}", IP, "sms") is None


async def test_pumping_blocks_the_prefix_then_the_block_expires(store: FraudStore, clock: FakeClock) -> None:
    alerts: list[PumpingAlert] = []
    fraud = FraudGuard(store, replace(NO_LIMITS, **PUMPING), clock=clock, on_alert=alerts.append)  # type: ignore[arg-type]
    await pump(fraud, 20)
    for i in range(2):  # 2 of 20 verified: 10%
        await fraud.record_outcome("p", f"+{46701234567 + i}", True)
    clock.advance(61)  # the starts are now settled
    refusal = await fraud.check_start("p", SAME_PREFIX, IP, "sms")
    assert refusal is not None and refusal.reason == "sms_pumping_suspected"
    assert refusal.retry_after_ms == 1_800_000
    assert alerts == [PumpingAlert("p", "+467012", 20, 2, clock.now + 1_800_000)]
    assert alerts[0].success_rate == pytest.approx(0.1)
    clock.advance(600)
    blocked = await fraud.check_start("p", MOBILE, IP, "callout")
    assert blocked is not None and blocked.reason == "prefix_blocked" and blocked.retry_after_ms == 1_200_000
    assert await fraud.check_start("p", OTHER_PREFIX, IP, "sms") is None
    assert await fraud.check_start("other-project", MOBILE, IP, "sms") is None
    clock.advance(1200)
    assert await fraud.check_start("p", MOBILE, IP, "sms") is None  # expired, and judged afresh
    assert len(alerts) == 1


async def test_no_block_while_enough_verifications_succeed(store: FraudStore, clock: FakeClock) -> None:
    fraud = guard(store, clock, **PUMPING)
    await pump(fraud, 20)
    for i in range(4):  # exactly 20%
        await fraud.record_outcome("p", f"+{46701234567 + i}", True)
    clock.advance(61)
    assert await fraud.check_start("p", MOBILE, IP, "sms") is None


async def test_fewer_than_the_minimum_settled_starts_are_not_judged(store: FraudStore, clock: FakeClock) -> None:
    fraud = guard(store, clock, **PUMPING)
    await pump(fraud, 19)
    clock.advance(61)
    assert await fraud.check_start("p", MOBILE, IP, "sms") is None


async def test_a_burst_within_the_grace_period_is_not_judged(store: FraudStore, clock: FakeClock) -> None:
    fraud = guard(store, clock, **PUMPING)
    await pump(fraud, 40)  # nobody verified yet: they have not had the time
    clock.advance(30)
    assert await fraud.check_start("p", MOBILE, IP, "sms") is None


async def test_known_failures_settle_starts_before_the_grace_period(store: FraudStore, clock: FakeClock) -> None:
    fraud = guard(store, clock, **PUMPING)
    await pump(fraud, 20)
    for i in range(20):
        await fraud.record_outcome("p", f"+{46701234567 + i}", False)
    assert reason(await fraud.check_start("p", MOBILE, IP, "sms")) == "sms_pumping_suspected"


async def test_old_starts_leave_the_pumping_window(store: FraudStore, clock: FakeClock) -> None:
    fraud = guard(store, clock, **PUMPING)
    await pump(fraud, 20)
    clock.advance(3601)
    assert await fraud.check_start("p", MOBILE, IP, "sms") is None


async def test_an_async_alert_handler_is_awaited(clock: FakeClock) -> None:
    seen: list[str] = []

    async def handler(alert: PumpingAlert) -> None:
        seen.append(alert.prefix)

    fraud = FraudGuard(LocalFraudStore(), replace(NO_LIMITS, **PUMPING), clock=clock, on_alert=handler)  # type: ignore[arg-type]
    await pump(fraud, 20)
    clock.advance(61)
    await fraud.check_start("p", MOBILE, IP, "sms")
    assert seen == ["+467012"]


# -- the distributed profile ------------------------------------------------------------------------

async def test_two_processes_share_limits_and_blocks_through_redis(clock: FakeClock) -> None:
    prefix = f"tidings-test:{uuid.uuid4().hex[:12]}:"
    client_a, store_a = await _redis_store(prefix)
    client_b, store_b = await _redis_store(prefix)
    try:
        alerts: list[PumpingAlert] = []
        settings = replace(NO_LIMITS, per_number=Limit(2, 60), **PUMPING)  # type: ignore[arg-type]
        a = FraudGuard(store_a, settings, clock=clock, on_alert=alerts.append)
        b = FraudGuard(store_b, settings, clock=clock, on_alert=alerts.append)
        assert await a.check_start("p", UK_MOBILE, IP, "sms") is None
        assert await b.check_start("p", UK_MOBILE, IP, "sms") is None
        assert reason(await a.check_start("p", UK_MOBILE, IP, "sms")) == "rate_limited_number"
        await pump(a, 10)
        await pump(b, 10, "+46701200000")
        clock.advance(61)
        assert reason(await b.check_start("p", MOBILE, IP, "sms")) == "sms_pumping_suspected"
        assert reason(await a.check_start("p", MOBILE, IP, "sms")) == "prefix_blocked"
        assert len(alerts) == 1
    finally:
        keys = [key async for key in client_a.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client_a.delete(*keys)
        await client_a.aclose()
        await client_b.aclose()


async def test_an_unreachable_store_fails_open_unless_told_otherwise(clock: FakeClock) -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        open_guard = FraudGuard(RedisFraudStore(client), FraudSettings(), clock=clock)
        assert await open_guard.check_start("p", MOBILE, IP, "sms") is None
        await open_guard.record_outcome("p", MOBILE, True)
        assert reason(await open_guard.check_start("p", PREMIUM, IP, "sms")) == "premium_rate_number"
        closed = FraudGuard(RedisFraudStore(client), FraudSettings(), clock=clock, fail_open=False)
        with pytest.raises(QueueError):
            await closed.check_start("p", MOBILE, IP, "sms")
    finally:
        await client.aclose()


def test_reason_codes_are_the_documented_list() -> None:
    assert sorted(REASONS) == sorted([
        "invalid_number", "premium_rate_number", "landline_number", "voip_number", "prefix_blocked",
        "sms_pumping_suspected", "rate_limited_number", "rate_limited_ip", "rate_limited_project",
        "rate_limited_prefix", "rate_limited_country"])
