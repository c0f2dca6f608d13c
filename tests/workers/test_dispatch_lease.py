"""Distributed profile (PostgreSQL + Redis Streams): a worker that is slow but alive keeps its
claims. A message claimed and waiting in a connection's line (a throughput cap, a full window)
longer than the dispatch lease used to look abandoned: the sweeper republished it and a second
worker sent it too, while the first one still did."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from tidings.actions.batches import do_send
from tidings.actions.projects import do_create_project
from tidings.channels.base import OutboundSms
from tidings.config import Settings
from tidings.core.errors import TransientDeliveryError
from tidings.queue.redis_streams import QueueError, RedisStreamsDispatchQueue
from tidings.runtime.context import Context, now_ms
from tidings.store.db import Database
from tidings.store.group_commit import GroupCommitter
from tidings.store.schema import deliveries
from tidings.testing.services import REDIS_URL
from tidings.workers.dispatch import DispatchWorker
from tidings.workers.sweeper import Sweeper
from tidings.workers.writer import OutcomeWriter

LEASE_SECONDS = 1.0

Callback = Callable[[str | None, list[str] | None, BaseException | None], None]


@pytest.fixture
def profile() -> str:
    return "distributed"


@dataclass
class HoldingRouter:
    """A connection whose line never moves: every message handed over waits."""

    held: list[tuple[OutboundSms, Callback]] = field(default_factory=list)

    def submit(self, message: OutboundSms, sent: Callback) -> None:
        self.held.append((message, sent))

    def withdraw_unsent(self) -> int:
        held, self.held = self.held, []
        for _, sent in held:
            sent(None, None, TransientDeliveryError("stopping"))
        return len(held)

    def cost_of(self, *args: Any) -> None:
        return None


@pytest.fixture
async def contexts(any_db: Database) -> AsyncIterator[Callable[[str], Context]]:
    stream = f"tidings-test:{uuid.uuid4().hex[:12]}:dispatch"
    settings = Settings(dispatch_lease_seconds=LEASE_SECONDS)
    made: list[Context] = []

    def make(consumer: str) -> Context:
        queue = RedisStreamsDispatchQueue(REDIS_URL, stream=stream, consumer=consumer, claim_idle_ms=500)
        ctx = Context(settings, any_db, GroupCommitter(any_db), queue, now_ms)
        ctx.committer.start()
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        await ctx.committer.aclose()
        await ctx.dispatch.aclose()
    redis = Redis.from_url(REDIS_URL)
    await redis.delete(stream, stream + ":priority")
    await redis.aclose()


async def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition() and loop.time() < deadline:
        await asyncio.sleep(0.05)
    return condition()


async def test_a_claim_waiting_in_line_longer_than_the_lease_is_not_sent_by_another_worker(
    contexts: Callable[[str], Context],
) -> None:
    a_ctx, b_ctx = contexts("a"), contexts("b")
    creds = await do_create_project(a_ctx.db, "p", now_ms())
    await do_send(a_ctx, creds.project_id, creds.service_plan_id,
                  {"from": "+46700000000", "to": ["+46701234567"], "body": "hi"})

    stop = asyncio.Event()
    writer = OutcomeWriter(a_ctx.db, now_ms)
    writer.start()
    slow, other = HoldingRouter(), HoldingRouter()
    a = DispatchWorker(a_ctx, slow, writer)  # type: ignore[arg-type]
    b = DispatchWorker(b_ctx, other, writer)  # type: ignore[arg-type]
    running = [asyncio.create_task(a.run(stop))]
    try:
        assert await wait_for(lambda: len(slow.held) == 1, 5)
        running.append(asyncio.create_task(b.run(stop)))
        sweeper = Sweeper(b_ctx, writer)
        for _ in range(int(LEASE_SECONDS * 3 / 0.25)):  # three leases, the sweeper running meanwhile
            await sweeper.republish_stale()
            await asyncio.sleep(0.25)
        assert other.held == []  # sent once, by the worker that claimed it
        assert len(slow.held) == 1
    finally:
        stop.set()
        await asyncio.gather(*running)
        await writer.aclose()
    async with a_ctx.db.read() as conn:
        status, claimed = (await conn.execute(select(deliveries.c.status, deliveries.c.claimed_ms))).one()
    assert (status, claimed) == ("Queued", None)  # given back when the worker stopped


class AckFails(RedisStreamsDispatchQueue):
    """A Redis that answers the take, then drops the connection at the ack."""

    async def ack(self, taken: Any) -> None:
        raise QueueError("acknowledging dispatch entries: Connection reset by peer")


async def test_a_failed_ack_does_not_hold_up_the_claims_it_follows(contexts: Callable[[str], Context]) -> None:
    """The claim was committed before the ack failed: the messages are this worker's to send.
    The step used to fail there, leaving them claimed and unsent until the lease lapsed."""
    ctx = contexts("a")
    ctx.dispatch.__class__ = AckFails
    creds = await do_create_project(ctx.db, "p", now_ms())
    await do_send(ctx, creds.project_id, creds.service_plan_id,
                  {"from": "+46700000000", "to": ["+46701234567"], "body": "hi"})
    router = HoldingRouter()
    worker = DispatchWorker(ctx, router, OutcomeWriter(ctx.db, now_ms))  # type: ignore[arg-type]
    assert await worker.step(timeout=1.0) == 1
    assert len(router.held) == 1
