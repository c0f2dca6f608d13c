"""The sweeper's round, in both profiles: a job that fails is logged and tried again the next
round, and the jobs after it run all the same — one that keeps failing (a poisoned row, a bug)
must not stop the others, such as publishing due deliveries or purging old data."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tidings.actions.batches import do_send
from tidings.actions.projects import do_create_project
from tidings.runtime.context import Context
from tidings.store.db import Database

from .test_retention import Clock
from .test_scheduled_groups import context, iso, sweeper


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


async def test_idle_rounds_come_less_often_and_due_work_brings_them_back(ctx: Context) -> None:
    """Rounds that find nothing double the wait up to `idle_interval`; a delivery coming due is
    published within that, and the rounds after it come every `interval` again."""
    project = (await do_create_project(ctx.db, "idle", ctx.clock())).project_id
    clock = ctx.clock
    assert isinstance(clock, Clock)
    await do_send(ctx, project, None, {"from": "Shop", "body": "later", "to": ["+46701230001"],
                                       "send_at": iso(clock() + 3_600_000)})
    published: list[float] = []
    async for s in sweeper(ctx):
        s.interval, s.idle_interval = 0.01, 0.16
        publish_due = s.publish_due

        async def watched() -> int:
            count = await publish_due()
            if count:
                published.append(loop.time())
            return count

        s.publish_due = watched  # type: ignore[method-assign]
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        task = loop.create_task(s.run(stop))
        try:
            await asyncio.sleep(1.0)
            idle_rounds = s.rounds
            # 0.01 s apart at first, then 0.02, 0.04, 0.08 and 0.16: 8 to 11 rounds in the second
            # (100 without the back-off); a round's own time only makes them fewer.
            assert 4 <= idle_rounds <= 11, idle_rounds
            clock.ms += 3_600_000  # the scheduled batch comes due
            due_at = loop.time()
            async with asyncio.timeout(5):
                while not published:
                    await asyncio.sleep(0.005)
            assert published[0] - due_at <= 0.16 + 0.5  # within the idle wait (and a loaded round)
            rounds_then = s.rounds
            await asyncio.sleep(0.05)
            assert s.rounds - rounds_then >= 2  # busy again: the wait is back at `interval`
        finally:
            stop.set()
            await task
