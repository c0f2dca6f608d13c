"""The distributed profile's processes measure their clock against PostgreSQL's and refuse to
start when it is too far off for leases to be judged safely."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

import pytest

from tidings.config import Settings
from tidings.runtime.clock_check import ClockSkewError, check_clock, clock_offset_ms, watch_clock
from tidings.runtime.distributed import worker_main
from tidings.store.db import Database
from tidings.testing.services import REDIS_URL


def wall_ms() -> float:
    return time.time() * 1000


async def test_a_synchronised_clock_measures_close_to_zero(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        assert abs(await clock_offset_ms(db, wall_ms)) < 500
        assert abs(await check_clock(db, 10.0, wall_ms)) < 500
    finally:
        await db.aclose()


@pytest.mark.parametrize("skew_ms", [30_000, -30_000])
async def test_a_clock_off_by_more_than_allowed_either_way_is_refused(postgres_url: str, skew_ms: int) -> None:
    db = Database(postgres_url)
    try:
        offset = await clock_offset_ms(db, lambda: wall_ms() + skew_ms)
        assert abs(offset - skew_ms) < 500
        with pytest.raises(ClockSkewError, match="from the database's"):
            await check_clock(db, 10.0, lambda: wall_ms() + skew_ms)
        assert abs(await check_clock(db, 60.0, lambda: wall_ms() + skew_ms) - skew_ms) < 500
    finally:
        await db.aclose()


async def test_a_worker_keeps_measuring_and_logs_a_clock_gone_astray(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(postgres_url)
    skew = {"ms": 0.0}
    stop = asyncio.Event()
    try:
        with caplog.at_level(logging.ERROR, logger="tidings.runtime.clock_check"):
            watching = asyncio.create_task(watch_clock(db, 10.0, lambda: wall_ms() + skew["ms"], stop, every=0.05))
            await asyncio.sleep(0.2)
            assert not caplog.records
            skew["ms"] = -45_000.0
            await asyncio.sleep(0.2)
            stop.set()
            await asyncio.wait_for(watching, 2.0)
        assert caplog.records and "-45.0 s from the database's" in caplog.records[-1].getMessage()
    finally:
        await db.aclose()


async def test_a_worker_does_not_start_on_a_clock_past_the_limit(postgres_url: str) -> None:
    """A real clock is never exactly the database's: with no skew allowed, the worker refuses."""
    settings = Settings(database_url=postgres_url, redis_url=REDIS_URL, redis_prefix="tidings-test:clock:")
    with pytest.raises(ClockSkewError):
        await worker_main(dataclasses.replace(settings, max_clock_skew_seconds=0.0), asyncio.Event())


async def test_an_smpp_gateway_does_not_start_on_a_clock_past_the_limit(postgres_url: str) -> None:
    from tidings.gateway.service import gateway_main

    settings = Settings(database_url=postgres_url, redis_url=REDIS_URL, redis_prefix="tidings-test:clock:",
                        max_clock_skew_seconds=0.0)
    with pytest.raises(ClockSkewError):
        await gateway_main(settings, "127.0.0.1", 0, asyncio.Event())
