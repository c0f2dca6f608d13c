"""The sweeper's round, in both profiles: a job that fails is logged and tried again the next
round, and the jobs after it run all the same — one that keeps failing (a poisoned row, a bug)
must not stop the others, such as publishing due deliveries or purging old data."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tidings.runtime.context import Context
from tidings.store.db import Database

from .test_retention import Clock
from .test_scheduled_groups import context, sweeper


@pytest.fixture
async def ctx(any_db: Database) -> AsyncIterator[Context]:
    ctx = await context(any_db, Clock())
    yield ctx
    await ctx.committer.aclose()


async def test_a_failing_job_is_retried_and_does_not_hold_up_the_others(
    ctx: Context, caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[str] = []
    failures = 0

    async def poisoned() -> None:
        nonlocal failures
        failures += 1
        raise RuntimeError("a row this job cannot handle")

    def noted(name: str) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            ran.append(name)
        return job

    async for s in sweeper(ctx):
        # The first job of the round, one of the stale group, and one of the purges fail …
        s.expand_scheduled_groups = poisoned  # type: ignore[method-assign]
        s.republish_stale = poisoned  # type: ignore[method-assign]
        s.purge_webhooks = poisoned  # type: ignore[method-assign]
        # … while the jobs after each are watched.
        s.publish_due = noted("publish_due")  # type: ignore[method-assign,assignment]
        s.expire_overdue = noted("expire_overdue")  # type: ignore[method-assign]
        s.purge_policy_ledger = noted("purge_policy_ledger")  # type: ignore[method-assign]
        s.interval, s.stale_every, s.purge_every = 0.01, 0.0, 0.0
        stop = asyncio.Event()
        with caplog.at_level(logging.ERROR, logger="tidings.workers.sweeper"):
            task = asyncio.get_running_loop().create_task(s.run(stop))
            async with asyncio.timeout(10):
                while ran.count("publish_due") < 3:
                    await asyncio.sleep(0.01)
            stop.set()
            await task
    assert {"publish_due", "expire_overdue", "purge_policy_ledger"} <= set(ran)
    assert ran.count("expire_overdue") >= 2 and ran.count("purge_policy_ledger") >= 2  # every round
    assert failures >= 6  # each poisoned job tried again, round after round
    for name in ("expand_scheduled_groups", "republish_stale", "purge_webhooks"):
        assert f"sweep job {name} failed" in caplog.text
