"""Message retention, in both profiles: the sweeper deletes SMS batches older than
`message_retention_seconds` with everything recorded about their messages (deliveries,
submissions, costs, SMPP gateway addressing), old inbound messages, verifications, policy
decisions and (after the webhook retention) the SMPP gateway's outbox; it keeps a batch with a
message still Queued however old, keeps recent ones, works in chunks, and keeps everything when
the retention is 0."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from tidings.actions.batches import do_send
from tidings.actions.projects import do_create_project
from tidings.config import Settings
from tidings.core.ids import ulid
from tidings.core.statuses import Code, Status
from tidings.queue.local import LocalDispatchQueue
from tidings.runtime.context import Context
from tidings.store.db import Database
from tidings.store.gateway_schema import smpp_batches
from tidings.store.group_commit import GroupCommitter
from tidings.store.inbound import insert_inbounds
from tidings.store.routing_schema import delivery_costs
from tidings.store.schema import batches, deliveries, inbounds, submissions
from tidings.workers import sweeper as sweeper_module
from tidings.workers.events import Dispatched, Receipt, Settled
from tidings.workers.sweeper import Sweeper
from tidings.workers.writer import OutcomeWriter

DAY_MS = 24 * 3600 * 1000
RETENTION_DAYS = 30


def real_ms() -> int:
    return time.time_ns() // 1_000_000


class Clock:
    def __init__(self) -> None:
        self.ms = real_ms()

    def __call__(self) -> int:
        return self.ms


@pytest.fixture
async def setup(any_db: Database) -> AsyncIterator[tuple[Context, Clock, OutcomeWriter, str]]:
    clock = Clock()
    committer = GroupCommitter(any_db)
    committer.start()
    ctx = Context(Settings(message_retention_seconds=RETENTION_DAYS * 24 * 3600), any_db, committer,
                  LocalDispatchQueue(), clock)
    writer = OutcomeWriter(any_db, clock)
    writer.start()
    creds = await do_create_project(any_db, "retention", clock.ms)
    yield ctx, clock, writer, creds.project_id
    await writer.aclose()
    await committer.aclose()


async def send(ctx: Context, project_id: str, *recipients: str) -> tuple[str, list[int]]:
    result = await do_send(ctx, project_id, None, {"from": "Tidings", "to": list(recipients), "body": "hello"})
    async with ctx.db.read() as conn:
        ids = [r.id for r in await conn.execute(
            select(deliveries.c.id).where(deliveries.c.batch_id == result.batch.id).order_by(deliveries.c.id))]
    return result.batch.id, ids


async def count(db: Database, table, *where) -> int:  # type: ignore[no-untyped-def]
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one())


async def inbound(db: Database, at_ms: int) -> str:
    row_id = ulid()
    async with db.write() as conn:
        await insert_inbounds(conn, [{
            "id": row_id, "project_id": None, "service_plan_id": None, "type": "mo_text", "sender": "+46701234567",
            "recipient": "+46700000000", "body": "hi", "received_ms": at_ms, "connection": "sandbox",
            "smsc_message_id": None,
        }])
    return row_id


async def test_old_finished_batches_go_with_their_records_and_the_rest_stay(setup) -> None:  # type: ignore[no-untyped-def]
    ctx, clock, writer, project = setup
    # Sent "40 days ago" (the database's times), so their expiry is long past too.
    clock.ms = real_ms() - 40 * DAY_MS
    old, (delivered, failed) = await send(ctx, project, "+46701000001", "+46701000002")
    waiting, (queued,) = await send(ctx, project, "+46701000003")
    await writer.apply([
        Dispatched(delivered, "sandbox", ["m-1"], clock.ms, (0.05, "EUR")),
        Receipt("sandbox", "m-1", Status.DELIVERED, Code.DELIVERED, clock.ms),
        Settled(failed, Status.FAILED, Code.TEMPORARY_FAILURE, clock.ms),
    ])
    async with ctx.db.write() as conn:
        await conn.execute(smpp_batches.insert(), [{
            "batch_id": old, "system_id": "cust", "registered_delivery": 1, "source_addr": "Tidings",
            "source_addr_ton": 5, "source_addr_npi": 0, "destination_addr": "+46701000001", "dest_addr_ton": 1,
            "dest_addr_npi": 1, "text_head": "hello", "submitted_ms": clock.ms}])
    old_inbound = await inbound(ctx.db, clock.ms)
    assert await count(ctx.db, submissions) == 1 and await count(ctx.db, delivery_costs) == 1

    # Everything made from here on is younger than the cutoff.
    cutoff = real_ms()
    await asyncio.sleep(0.005)
    recent, (recent_delivery,) = await send(ctx, project, "+46701000004")
    await writer.apply([Settled(recent_delivery, Status.FAILED, Code.TEMPORARY_FAILURE, clock.ms)])
    recent_inbound = await inbound(ctx.db, clock.ms)

    clock.ms = cutoff + RETENTION_DAYS * DAY_MS
    sweeper = Sweeper(ctx, writer)
    assert await sweeper.purge_old_messages() == (2, 1)

    assert await count(ctx.db, batches, batches.c.id == old) == 0
    assert await count(ctx.db, deliveries, deliveries.c.batch_id == old) == 0
    assert await count(ctx.db, submissions) == 0
    assert await count(ctx.db, delivery_costs) == 0
    assert await count(ctx.db, smpp_batches) == 0
    assert await count(ctx.db, inbounds, inbounds.c.id == old_inbound) == 0
    # A message that may still be sent stays, however old; so do recent batches and inbounds.
    assert await count(ctx.db, deliveries, deliveries.c.id == queued, deliveries.c.status == "Queued") == 1
    assert await count(ctx.db, batches, batches.c.id.in_([waiting, recent])) == 2
    assert await count(ctx.db, inbounds, inbounds.c.id == recent_inbound) == 1
    assert await sweeper.purge_old_messages() == (0, 0)

    # Once it is final, the old batch that waited goes too.
    await writer.apply([Settled(queued, Status.EXPIRED, Code.INTERNAL_EXPIRY, clock.ms)])
    assert await sweeper.purge_old_messages() == (1, 0)
    assert await count(ctx.db, batches, batches.c.id == waiting) == 0


async def test_purge_works_in_chunks_and_retention_zero_keeps_everything(setup, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ctx, clock, writer, project = setup
    clock.ms = real_ms() - 40 * DAY_MS
    ids = []
    for i in range(5):
        _, delivery_ids = await send(ctx, project, f"+4670100001{i}", f"+4670100002{i}")
        ids += delivery_ids
    for i in range(5):  # old, but still Queued: kept, and passed over once per purge
        await send(ctx, project, f"+4670100003{i}", f"+4670100004{i}")
    for i in range(7):
        await inbound(ctx.db, clock.ms)
    await writer.apply([Settled(i, Status.FAILED, Code.TEMPORARY_FAILURE, clock.ms) for i in ids])
    clock.ms = real_ms() + 1 + RETENTION_DAYS * DAY_MS

    keep_all = Sweeper(Context(Settings(message_retention_seconds=0), ctx.db, ctx.committer, ctx.dispatch, clock),
                       writer)
    assert await keep_all.purge_old_messages() == (0, 0)
    assert await count(ctx.db, deliveries) == 20

    transactions = 0
    real_delete = sweeper_module.retention.delete_batches

    async def counted(conn, batch_ids, cutoff):  # type: ignore[no-untyped-def]
        nonlocal transactions
        transactions += 1
        assert len(batch_ids) * 2 <= 4  # a chunk holds at most PURGE_CHUNK deliveries
        return await real_delete(conn, batch_ids, cutoff)

    monkeypatch.setattr(sweeper_module, "PURGE_CHUNK", 4)
    monkeypatch.setattr(sweeper_module.retention, "delete_batches", counted)
    assert await Sweeper(ctx, writer).purge_old_messages() == (10, 7)
    # Pages of four batches (PURGE_CHUNK), chunks of two: [s1 s2] [s3 s4] | [s5 q1] [q2 q3] | [q4 q5].
    assert transactions == 5
    assert await count(ctx.db, deliveries) == 10 and await count(ctx.db, batches) == 5
    assert await count(ctx.db, deliveries, deliveries.c.status != "Queued") == 0
    assert await count(ctx.db, inbounds) == 0
    assert await Sweeper(ctx, writer).purge_old_messages() == (0, 0)


def test_retention_periods_come_from_the_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert Settings.from_env().message_retention_seconds == 30 * 24 * 3600
    monkeypatch.setenv("TIDINGS_MESSAGE_RETENTION_SECONDS", "0")
    monkeypatch.setenv("TIDINGS_WEBHOOK_RETENTION_SECONDS", "3600")
    settings = Settings.from_env()
    assert (settings.message_retention_seconds, settings.webhook_retention_seconds) == (0, 3600)


async def test_the_policy_ledger_forgets_sends_no_window_can_count(setup, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Caps count a week back and collapse windows at most 30 days: older sends go, the oldest by
    id first, a chunk at a time; newer ones stay."""
    from tidings.store.policy_schema import policy_sends

    ctx, clock, writer, project = setup
    ages_days = [45, 40, 35, 31, 29, 10, 0]
    async with ctx.db.write() as conn:
        await conn.execute(policy_sends.insert(), [
            {"project_id": project, "contact_key": f"+4670100000{i}", "ref": f"sms:{i}", "purpose": "engagement",
             "channel": "SMS", "collapse_key": None, "sent_ms": clock.ms - age * DAY_MS}
            for i, age in enumerate(ages_days)])
    monkeypatch.setattr(sweeper_module, "PURGE_CHUNK", 2)
    assert await Sweeper(ctx, writer).purge_policy_ledger() == 4
    async with ctx.db.read() as conn:
        sent = (await conn.execute(select(policy_sends.c.sent_ms))).scalars()
        left = sorted(round((clock.ms - ms) / DAY_MS) for ms in sent)
    assert left == [0, 10, 29]
    assert await Sweeper(ctx, writer).purge_policy_ledger() == 0


async def test_verifications_go_once_they_expired_longer_ago_than_the_retention(  # type: ignore[no-untyped-def]
    setup, monkeypatch,
) -> None:
    """By expiry (past it a verification cannot change), the oldest first, a chunk at a time."""
    from tidings.store.verify_schema import verifications

    ctx, clock, writer, project = setup
    expired_days_ago = [60, 45, 31, 29, 1]
    async with ctx.db.write() as conn:
        await conn.execute(verifications.insert(), [
            {"id": f"v{age}", "project_id": project, "app_key": "app", "method": "sms", "identity_type": "number",
             "endpoint": "+46701000001", "status": "SUCCESSFUL", "code_hash": "x", "code_length": 4, "attempts": 1,
             "max_attempts": 3, "sends": 1, "expires_ms": clock.ms - age * DAY_MS,
             "created_ms": clock.ms - age * DAY_MS - 600_000, "updated_ms": clock.ms - age * DAY_MS}
            for age in expired_days_ago])
    keep_all = Sweeper(Context(Settings(message_retention_seconds=0), ctx.db, ctx.committer, ctx.dispatch, clock),
                       writer)
    assert await keep_all.purge_old_verifications() == 0  # retention 0 keeps them for good
    assert await count(ctx.db, verifications) == 5
    monkeypatch.setattr(sweeper_module, "PURGE_CHUNK", 2)
    sweeper = Sweeper(ctx, writer)
    assert await sweeper.purge_old_verifications() == 3
    async with ctx.db.read() as conn:
        left = sorted((await conn.execute(select(verifications.c.id))).scalars())
    assert left == ["v1", "v29"]
    assert await sweeper.purge_old_verifications() == 0


async def test_policy_decisions_go_with_the_message_retention(setup, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Refusals and deferrals older than the retention, the oldest by id first, a chunk at a time."""
    from tidings.store.policy_schema import policy_decisions

    ctx, clock, writer, project = setup
    ages_days = [45, 40, 31, 29, 0]
    async with ctx.db.write() as conn:
        await conn.execute(policy_decisions.insert(), [
            {"project_id": project, "ref": f"sms:{i}", "channel": "SMS", "identity": "+46701000001",
             "purpose": "engagement", "outcome": "reject", "reason": "consent_missing", "until_ms": None,
             "at_ms": clock.ms - age * DAY_MS}
            for i, age in enumerate(ages_days)])
    keep_all = Sweeper(Context(Settings(message_retention_seconds=0), ctx.db, ctx.committer, ctx.dispatch, clock),
                       writer)
    assert await keep_all.purge_policy_decisions() == 0
    monkeypatch.setattr(sweeper_module, "PURGE_CHUNK", 2)
    assert await Sweeper(ctx, writer).purge_policy_decisions() == 3
    async with ctx.db.read() as conn:
        refs = sorted((await conn.execute(select(policy_decisions.c.ref))).scalars())
    assert refs == ["sms:3", "sms:4"]


async def test_smpp_outbox_rows_go_after_the_webhook_retention(setup, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """deliver_sm for SMPP customers, delivered or given up, or still pending past any maximum
    age: older than the webhook retention, they go, the oldest by id first."""
    from tidings.store import gateway as gq
    from tidings.store.gateway_schema import smpp_outbox

    ctx, clock, writer, project = setup
    ages_days = [9, 8, 8, 6, 0]
    states = [gq.DELIVERED, gq.EXPIRED, gq.PENDING, gq.DELIVERED, gq.PENDING]
    async with ctx.db.write() as conn:
        for age, state in zip(ages_days, states, strict=True):
            await gq.enqueue(conn, [{**gq.outbox_row("cust", "receipt", b"pdu", clock.ms - age * DAY_MS),
                                     "state": state}])
    monkeypatch.setattr(sweeper_module, "PURGE_CHUNK", 2)
    assert await Sweeper(ctx, writer).purge_smpp_outbox() == 3  # the webhook retention is 7 days
    async with ctx.db.read() as conn:
        left = sorted(round((clock.ms - ms) / DAY_MS) for ms in (await conn.execute(
            select(smpp_outbox.c.created_ms))).scalars())
    assert left == [0, 6]


async def test_a_large_backlog_is_worked_off_over_several_rounds(setup, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A round deletes at most PURGE_ROUND_CHUNKS chunks per job, so that the sweeper's other work
    (publishing due sends) is not held up while years of old rows go; the next round goes on."""
    ctx, clock, writer, project = setup
    for _ in range(7):
        await inbound(ctx.db, clock.ms)
    clock.ms = real_ms() + 1 + RETENTION_DAYS * DAY_MS
    monkeypatch.setattr(sweeper_module, "PURGE_CHUNK", 2)
    monkeypatch.setattr(sweeper_module, "PURGE_ROUND_CHUNKS", 2)
    sweeper = Sweeper(ctx, writer)
    assert [await sweeper.purge_old_messages() for _ in range(3)] == [(0, 4), (0, 3), (0, 0)]
