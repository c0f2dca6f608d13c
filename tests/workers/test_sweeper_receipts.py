"""A message the SMSC accepted and never sent a receipt for does not stay Dispatched for ever:
once its batch's expire_at plus the receipt wait has passed, the sweeper makes it Unknown (code
401), its final report goes out, and its batch stops waiting — while a late receipt still tells
the truth, a message not yet sent is left alone, and a sweeper that dies half-way loses nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy import select, update

from tidings.actions.batches import do_send
from tidings.actions.projects import do_create_project
from tidings.config import Settings
from tidings.core.statuses import Code, Status
from tidings.queue.local import LocalDispatchQueue
from tidings.runtime.context import Context
from tidings.store.db import Database
from tidings.store.group_commit import GroupCommitter
from tidings.store.schema import batches, deliveries, webhook_outbox
from tidings.workers import sweeper as sweeper_module
from tidings.workers.events import Dispatched, Event, Receipt
from tidings.workers.sweeper import Sweeper
from tidings.workers.writer import OutcomeWriter

NOW = 1_800_000_000_000
EXPIRY_S = 60
WAIT_S = 3600
PAST_DEADLINE = NOW + (EXPIRY_S + WAIT_S) * 1000 + 1
CONNECTION = "sandbox"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> int:
        return self.now


class KilledWriter(OutcomeWriter):
    """A writer whose process dies before it commits anything."""

    async def apply(self, events: Sequence[Event]) -> None:
        raise ConnectionError("process killed")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def ctx(any_db: Database, clock: Clock) -> AsyncIterator[Context]:
    committer = GroupCommitter(any_db)
    committer.start()
    yield Context(Settings(receipt_wait_seconds=WAIT_S), any_db, committer, LocalDispatchQueue(), clock)
    await committer.aclose()


@pytest.fixture
async def writer(ctx: Context) -> AsyncIterator[OutcomeWriter]:
    writer = OutcomeWriter(ctx.db, ctx.clock)
    writer.start()
    yield writer
    await writer.aclose()


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


async def send(ctx: Context, plan: tuple[str, str], recipients: list[str], **extra: object) -> str:
    result = await do_send(ctx, plan[0], plan[1], {
        "from": "+46700000000", "to": recipients, "body": "hi",
        "expire_at": iso(NOW + EXPIRY_S * 1000), **extra})
    return result.batch.id


async def project(ctx: Context) -> tuple[str, str]:
    creds = await do_create_project(ctx.db, "p", NOW)
    return creds.project_id, creds.service_plan_id


async def rows(db: Database, batch_id: str) -> dict[str, tuple[int, str, int]]:
    """recipient -> (delivery id, status, code)."""
    async with db.read() as conn:
        result = await conn.execute(select(deliveries.c.recipient, deliveries.c.id, deliveries.c.status,
                                           deliveries.c.code).where(deliveries.c.batch_id == batch_id))
        return {r[0]: (r[1], r[2], r[3]) for r in result}


async def closed_at(db: Database, batch_id: str) -> int | None:
    async with db.read() as conn:
        return (await conn.execute(select(batches.c.receipts_closed_ms)
                                   .where(batches.c.id == batch_id))).scalar_one()


async def dispatch(writer: OutcomeWriter, delivery_id: int, smsc_id: str) -> None:
    await writer.apply([Dispatched(delivery_id, CONNECTION, [smsc_id], NOW + 10)])


async def test_a_message_without_a_receipt_becomes_unknown_after_the_deadline_and_is_reported(
        ctx: Context, writer: OutcomeWriter, clock: Clock) -> None:
    plan = await project(ctx)
    batch_id = await send(ctx, plan, ["+46701000001", "+46701000002"], delivery_report="per_recipient_final",
                          callback_url="http://127.0.0.1:9/hook")
    (lost_id, _, _), (answered_id, _, _) = (await rows(ctx.db, batch_id)).values()
    await dispatch(writer, lost_id, "m-lost")
    await dispatch(writer, answered_id, "m-answered")
    await writer.apply([Receipt(CONNECTION, "m-answered", Status.DELIVERED, 0, NOW + 20)])

    # Expired, but the receipt wait has not passed: the SMSC may still be trying.
    clock.now = PAST_DEADLINE - 2
    assert await Sweeper(ctx, writer).give_up_on_receipts() == 0
    assert (await rows(ctx.db, batch_id))["+46701000001"][1] == "Dispatched"
    assert await closed_at(ctx.db, batch_id) is None

    clock.now = PAST_DEADLINE
    assert await Sweeper(ctx, writer).give_up_on_receipts() == 1
    now = await rows(ctx.db, batch_id)
    assert now["+46701000001"][1:] == ("Unknown", Code.DISPATCHED)
    assert now["+46701000002"][1:] == ("Delivered", 0)  # a final status is never touched
    assert await closed_at(ctx.db, batch_id) == PAST_DEADLINE

    async with ctx.db.read() as conn:
        reports = [orjson.loads(r[0]) for r in await conn.execute(
            select(webhook_outbox.c.body).where(webhook_outbox.c.kind == "recipient_delivery_report_sms"))]
    unknown = [r for r in reports if r["status"] == "Unknown"]
    assert [(r["recipient"], r["code"], r["batch_id"]) for r in unknown] == [("+46701000001", 401, batch_id)]

    # Closed: the next round does nothing more, and a receipt that comes at last still counts.
    assert await Sweeper(ctx, writer).give_up_on_receipts() == 0
    await writer.apply([Receipt(CONNECTION, "m-lost", Status.DELIVERED, 0, PAST_DEADLINE + 5)])
    assert (await rows(ctx.db, batch_id))["+46701000001"][1:] == ("Delivered", 0)
    # ... and is reported: the definite status follows the Unknown, even for per_recipient_final.
    async with ctx.db.read() as conn:
        reports = [orjson.loads(r[0]) for r in await conn.execute(
            select(webhook_outbox.c.body).where(webhook_outbox.c.kind == "recipient_delivery_report_sms")
            .order_by(webhook_outbox.c.id))]
    assert [r["status"] for r in reports if r["recipient"] == "+46701000001"] == ["Unknown", "Delivered"]


async def test_a_batch_with_a_message_still_queued_waits_for_it(
        ctx: Context, writer: OutcomeWriter, clock: Clock) -> None:
    plan = await project(ctx)
    batch_id = await send(ctx, plan, ["+46701000011", "+46701000012"])
    (sent_id, _, _), (queued_id, _, _) = (await rows(ctx.db, batch_id)).values()
    await dispatch(writer, sent_id, "m-sent")
    # The other is being sent by a live worker (claimed just now): not expired, not Unknown.
    async with ctx.db.write() as conn:
        await conn.execute(update(deliveries).where(deliveries.c.id == queued_id)
                           .values(claimed_ms=PAST_DEADLINE))

    clock.now = PAST_DEADLINE
    assert await Sweeper(ctx, writer).give_up_on_receipts() == 1
    now = await rows(ctx.db, batch_id)
    assert now["+46701000011"][1] == "Unknown"
    assert now["+46701000012"][1] == "Queued"
    assert await closed_at(ctx.db, batch_id) is None

    # The worker's send went out after all: once Dispatched, it too waits no longer than the deadline.
    await dispatch(writer, queued_id, "m-late")
    clock.now = PAST_DEADLINE + 1000
    assert await Sweeper(ctx, writer).give_up_on_receipts() == 1
    assert (await rows(ctx.db, batch_id))["+46701000012"][1] == "Unknown"
    assert await closed_at(ctx.db, batch_id) == PAST_DEADLINE + 1000


async def test_many_batches_are_closed_in_one_round_a_chunk_at_a_time(
        ctx: Context, writer: OutcomeWriter, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweeper_module, "RECEIPT_BATCHES_PER_CHUNK", 2)
    monkeypatch.setattr(sweeper_module, "PUBLISH_LIMIT", 3)
    plan = await project(ctx)
    ids = []
    for n in range(5):
        batch_id = await send(ctx, plan, [f"+4670100002{n}", f"+4670100003{n}"])
        ids.append(batch_id)
        for recipient, (delivery_id, _, _) in (await rows(ctx.db, batch_id)).items():
            await dispatch(writer, delivery_id, f"m-{recipient}")
    clock.now = PAST_DEADLINE
    assert await Sweeper(ctx, writer).give_up_on_receipts() == 10
    for batch_id in ids:
        assert {s for _, s, _ in (await rows(ctx.db, batch_id)).values()} == {"Unknown"}
        assert await closed_at(ctx.db, batch_id) == PAST_DEADLINE


async def test_a_sweeper_dying_before_it_records_the_unknowns_leaves_them_for_the_next(
        ctx: Context, writer: OutcomeWriter, clock: Clock) -> None:
    plan = await project(ctx)
    batch_id = await send(ctx, plan, ["+46701000041"])
    ((delivery_id, _, _),) = (await rows(ctx.db, batch_id)).values()
    await dispatch(writer, delivery_id, "m-1")
    clock.now = PAST_DEADLINE
    with pytest.raises(ConnectionError):
        await Sweeper(ctx, KilledWriter(ctx.db, ctx.clock)).give_up_on_receipts()
    assert (await rows(ctx.db, batch_id))["+46701000041"][1] == "Dispatched"
    assert await closed_at(ctx.db, batch_id) is None
    assert await Sweeper(ctx, writer).give_up_on_receipts() == 1
    assert (await rows(ctx.db, batch_id))["+46701000041"][1] == "Unknown"
    assert await closed_at(ctx.db, batch_id) == PAST_DEADLINE
