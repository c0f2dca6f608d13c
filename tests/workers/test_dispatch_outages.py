"""The database or the queue failing for a moment around a send, in both profiles: what was
taken or committed is not left waiting for the slow recoveries (a lease, the stream's idle
takeover). A claim that fails gives its ids back to the queue; a publish that fails after the
commit, or the sweeper's own, leaves the deliveries unpublished, for the sweeper's next round."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from sqlalchemy import select

from tidings.actions.batches import do_send
from tidings.actions.projects import do_create_project
from tidings.config import Settings
from tidings.queue.local import LocalDispatchQueue
from tidings.runtime.context import Context, now_ms
from tidings.store import deliveries as dq
from tidings.store.db import Database
from tidings.store.group_commit import GroupCommitter
from tidings.store.schema import deliveries
from tidings.workers.dispatch import DispatchWorker
from tidings.workers.sweeper import Sweeper
from tidings.workers.writer import OutcomeWriter

from .test_dispatch_lease import HoldingRouter

TO = ["+46701234561", "+46701234562", "+46701234563"]


class PublishFailsOnce(LocalDispatchQueue):
    """A queue that cannot be reached for its first publish (Redis away, say)."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    async def publish(self, ids: Sequence[int], priority: bool = False) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the queue is unreachable")
        await super().publish(ids, priority)


@pytest.fixture
async def ctx(any_db: Database) -> AsyncIterator[Context]:
    context = Context(Settings(), any_db, GroupCommitter(any_db), PublishFailsOnce(), now_ms)
    context.dispatch.failures = 0  # type: ignore[attr-defined]
    context.committer.start()
    yield context
    await context.committer.aclose()


async def _send(ctx: Context) -> None:
    creds = await do_create_project(ctx.db, "p", now_ms())
    await do_send(ctx, creds.project_id, creds.service_plan_id, {"from": "+46700000000", "to": TO, "body": "hi"})


async def test_a_claim_that_fails_gives_its_ids_back_at_once(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    await _send(ctx)
    claim = dq.claim
    calls = 0

    async def fails_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TimeoutError("the database did not answer")
        return await claim(*args, **kwargs)

    monkeypatch.setattr(dq, "claim", fails_once)
    router = HoldingRouter()
    worker = DispatchWorker(ctx, router, OutcomeWriter(ctx.db, now_ms))  # type: ignore[arg-type]
    with pytest.raises(TimeoutError):
        await worker.step(timeout=1.0)
    assert await ctx.dispatch.backlog() == len(TO)  # given back, not lost with the failed take
    assert await worker.step(timeout=1.0) == len(TO)
    assert sorted(m.recipient for m, _ in router.held) == TO
    router.withdraw_unsent()


async def test_a_publish_that_fails_leaves_the_deliveries_to_the_sweepers_next_round(ctx: Context) -> None:
    ctx.dispatch.failures = 1  # type: ignore[attr-defined]
    await _send(ctx)  # accepted: the batch is committed before the publish
    async with ctx.db.read() as conn:
        published = [r[0] for r in await conn.execute(select(deliveries.c.published_ms))]
    assert published == [None] * len(TO)  # not "published" with no entry behind them
    assert await ctx.dispatch.backlog() == 0
    sweeper = Sweeper(ctx, OutcomeWriter(ctx.db, now_ms))
    assert await sweeper.publish_due() == len(TO)
    assert await ctx.dispatch.backlog() == len(TO)


async def test_a_sweeper_publish_that_fails_leaves_them_for_its_next_round(ctx: Context) -> None:
    ctx.dispatch.failures = 1  # type: ignore[attr-defined]
    await _send(ctx)  # unpublished: the API's publish failed
    ctx.dispatch.failures = 1  # type: ignore[attr-defined]
    sweeper = Sweeper(ctx, OutcomeWriter(ctx.db, now_ms))
    with pytest.raises(ConnectionError):
        await sweeper.publish_due()  # the queue still away
    async with ctx.db.read() as conn:
        published = [r[0] for r in await conn.execute(select(deliveries.c.published_ms))]
    assert published == [None] * len(TO)  # not left "published" with no entry behind them
    assert await sweeper.publish_due() == len(TO)
    assert await ctx.dispatch.backlog() == len(TO)
