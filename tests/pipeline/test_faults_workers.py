"""Distributed profile, real processes: `tidings api` and `tidings worker` ×2 on PostgreSQL and
Redis, against a sandbox SMSC run by the test. A worker killed with SIGKILL loses nothing: the
stream entries it had read are taken over by the survivor (XAUTOCLAIM), the deliveries it had
claimed are sent again once their lease lapses, and every message ends Delivered. A worker
stopped with SIGTERM gives back what it had not sent yet, and nothing is sent twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select, text

from tidings.actions.projects import ProjectCredentials, do_create_project
from tidings.config import Settings
from tidings.runtime.context import now_ms
from tidings.runtime.embedded import SANDBOX_PASSWORD, SANDBOX_SYSTEM_ID
from tidings.sandbox.world import Sandbox
from tidings.store.db import Database
from tidings.store.migrate import upgrade
from tidings.store.schema import receipt_inbox
from tidings.testing.ports import free_port
from tidings.testing.services import REDIS_URL

from .faults_support import (
    LateAnswers,
    Proc,
    answer_submits_late,
    bound_sessions,
    drop_smpp_sessions,
    inbox_counts,
    numbers,
    retried_deliveries,
    second_sigterm_ends_it,
    status_counts,
    wait_all_status,
    wait_healthy,
    wait_until,
)

SENDER = {"from": "+46700000000"}
GROUP = "workers"


@dataclass
class Cluster:
    """The processes of one distributed deployment and what the test needs to drive them."""

    tmp: Path
    env: dict[str, str]
    sandbox: Sandbox
    db: Database
    redis: Redis
    prefix: str
    base_url: str = ""
    creds: ProjectCredentials | None = None
    procs: list[Proc] = field(default_factory=list)

    @property
    def stream(self) -> str:
        return self.prefix + "dispatch"

    def start(self, *args: str, **env: str) -> Proc:
        name = f"{args[0]}-{len(self.procs) + 1}"
        proc = Proc(list(args), {**self.env, **env}, str(self.tmp / f"{name}.log"))
        self.procs.append(proc)
        return proc

    async def start_workers(self, count: int, **env: str) -> list[Proc]:
        bound = bound_sessions(self.sandbox)
        workers = [self.start("worker", **env) for _ in range(count)]

        async def up() -> bool:
            for worker in workers:
                assert worker.popen.poll() is None, worker.output()
            return bound_sessions(self.sandbox) >= bound + count

        await wait_until(up, 30.0, f"{count} workers bound to the SMSC", interval=0.1)
        return workers

    async def send(self, http: httpx.AsyncClient, **batch: Any) -> dict[str, Any]:
        assert self.creds is not None
        response = await http.post(
            f"{self.base_url}/xms/v1/{self.creds.service_plan_id}/batches", json=batch,
            headers={"Authorization": f"Bearer {self.creds.api_token}"},
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def pending_by_consumer(self) -> dict[str, int]:
        summary = await self.redis.xpending(self.stream, GROUP)
        return {_text(c["name"]): int(c["pending"]) for c in summary.get("consumers") or []}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@contextlib.asynccontextmanager
async def cluster(database_url: str, tmp: Path, *, throughput: float = 0,
                  prepare: Callable[[Sandbox], object] | None = None, **settings: str) -> AsyncIterator[Cluster]:
    """`prepare` sees the sandbox before it starts (`answer_submits_late`)."""
    await upgrade(database_url)
    sandbox = Sandbox(seed=5)
    sandbox.add_account(SANDBOX_SYSTEM_ID, SANDBOX_PASSWORD)
    if prepare is not None:
        prepare(sandbox)
    await sandbox.start()
    prefix = f"tidings-test:{uuid.uuid4().hex[:10]}:"
    env = {
        "TIDINGS_DATABASE_URL": database_url,
        "TIDINGS_REDIS_URL": REDIS_URL,
        "TIDINGS_REDIS_PREFIX": prefix,
        "TIDINGS_SMPP_CONNECTIONS": json.dumps([{
            "name": "sandbox", "host": "127.0.0.1", "port": sandbox.port, "system_id": SANDBOX_SYSTEM_ID,
            "password": SANDBOX_PASSWORD, "throughput": throughput,
        }]),
        **{f"TIDINGS_{k.upper()}": v for k, v in settings.items()},
    }
    c = Cluster(tmp, env, sandbox, Database(database_url), Redis.from_url(REDIS_URL), prefix)
    try:
        port = free_port()
        api = c.start("api", "--port", str(port))
        c.base_url = f"http://127.0.0.1:{port}"
        c.creds = await do_create_project(c.db, "faults", now_ms())
        await wait_healthy(c.base_url, api)
        yield c
    finally:
        for proc in c.procs:
            proc.kill()
        await sandbox.stop()
        keys = [key async for key in c.redis.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await c.redis.delete(*keys)
        await c.redis.aclose()
        await c.db.aclose()


def test_fault_settings_come_from_the_environment(monkeypatch: Any) -> None:
    monkeypatch.setenv("TIDINGS_DISPATCH_LEASE_SECONDS", "2.5")
    monkeypatch.setenv("TIDINGS_STREAM_CLAIM_IDLE_SECONDS", "1")
    monkeypatch.setenv("TIDINGS_SWEEP_STALE_SECONDS", "0.5")
    monkeypatch.setenv("TIDINGS_WEBHOOK_RETRY_BASE_SECONDS", "0.2")
    monkeypatch.setenv("TIDINGS_MO_REASSEMBLY_SECONDS", "90")
    monkeypatch.setenv("TIDINGS_RECEIPT_INBOX_GRACE_SECONDS", "2")
    settings = Settings.from_env()
    assert (settings.receipt_inbox_grace_seconds, Settings().receipt_inbox_grace_seconds) == (2.0, 30.0)
    assert (settings.dispatch_lease_seconds, settings.stream_claim_idle_seconds, settings.sweep_stale_seconds,
            settings.webhook_retry_base_seconds, settings.mo_reassembly_seconds) == (2.5, 1.0, 0.5, 0.2, 90.0)
    defaults = Settings()
    assert (defaults.dispatch_lease_seconds, defaults.stream_claim_idle_seconds, defaults.sweep_stale_seconds,
            defaults.webhook_retry_base_seconds, defaults.mo_reassembly_seconds) == (60.0, 30.0, 5.0, 1.0, 600.0)


async def test_worker_killed_mid_load_loses_nothing(fresh_postgres_url: str, tmp_path: Path) -> None:
    recipients = numbers(400)
    async with cluster(fresh_postgres_url, tmp_path, throughput=200, dispatch_lease_seconds="2",
                       stream_claim_idle_seconds="1", sweep_stale_seconds="0.5",
                       receipt_inbox_grace_seconds="2") as c, \
            httpx.AsyncClient(timeout=10.0) as http:
        victim, _survivor = await c.start_workers(2)
        await asyncio.gather(*(c.send(http, to=recipients[i:i + 100], body="load", **SENDER)
                               for i in range(0, len(recipients), 100)))
        await wait_until(lambda: _received_at_least(c.sandbox, recipients, 100), 20.0,
                         "100 messages on handsets")
        victim.kill()

        await wait_all_status(c.db, len(recipients), timeout=30.0)
        received = inbox_counts(c.sandbox, recipients)
        assert not [n for n in recipients if received[n] == 0]
        duplicates = sum(received.values()) - len(recipients)
        retried = await retried_deliveries(c.db)
        print(f"worker killed mid-load: {retried} deliveries sent again after their lease, "
              f"{duplicates} duplicates on handsets")
        # Only a delivery claimed twice can reach its handset twice.
        assert duplicates <= retried
        await wait_until(lambda: _no_pending(c), 5.0, "no stream entry left pending")
        # Receipts the victim answered but had not applied were applied by the survivor's sweeper.
        async with c.db.read() as conn:
            assert (await conn.execute(select(func.count()).select_from(receipt_inbox))).scalar_one() == 0


async def test_worker_stopped_mid_load_gives_back_what_it_had_not_sent(fresh_postgres_url: str, tmp_path: Path) -> None:
    """SIGTERM to one of two workers behind a capped carrier connection: it does not send its
    claimed backlog at the cap's pace before leaving — what waits under the cap is released, and
    the other worker sends it. It exits 0 with nothing left claimed, and nothing is sent twice.
    The lease outlasts the test: what it gives back must be released for real (its writer's last
    flush committed at the stop), not recovered when the claim goes stale."""
    recipients = numbers(400)
    async with cluster(fresh_postgres_url, tmp_path, throughput=50, sweep_stale_seconds="0.5",
                       dispatch_lease_seconds="600") as c, \
            httpx.AsyncClient(timeout=10.0) as http:
        # The leaving worker alone takes the load (one take can hold all 400: with both running,
        # the other one may take everything first), then the other one joins.
        (leaving,) = await c.start_workers(1)
        await asyncio.gather(*(c.send(http, to=recipients[i:i + 100], body="load", **SENDER)
                               for i in range(0, len(recipients), 100)))
        await wait_until(lambda: _received_at_least(c.sandbox, recipients, 40), 20.0, "40 messages on handsets")
        await c.start_workers(1)
        assert await leaving.terminate(timeout=10.0) == 0, leaving.output()

        await wait_all_status(c.db, len(recipients), timeout=60.0)
        received = inbox_counts(c.sandbox, recipients)
        assert [n for n in recipients if received[n] != 1] == []
        # Claimed by the worker that left, given back unsent, claimed again by the other.
        assert await retried_deliveries(c.db) > 0


async def test_a_second_sigterm_ends_a_worker_whose_smsc_does_not_answer(fresh_postgres_url: str,
                                                                          tmp_path: Path) -> None:
    """The first SIGTERM waits for the answers to what was written to the SMSC; when they never
    come, a second one ends the worker at once (the lease recovers its claims)."""
    late: list[LateAnswers] = []
    async with cluster(fresh_postgres_url, tmp_path, prepare=lambda s: late.append(answer_submits_late(s, 3600.0))) \
            as c, httpx.AsyncClient(timeout=10.0) as http:
        [worker] = await c.start_workers(1)
        await c.send(http, to=numbers(5), body="unanswered", **SENDER)
        await second_sigterm_ends_it(worker, late[0], written=5)
        late[0].end()


async def test_long_replies_over_two_worker_processes_one_killed_are_stored_whole_once(
        fresh_postgres_url: str, tmp_path: Path) -> None:
    """The SMSC spreads each long reply's parts over both workers' binds; one worker is killed
    while they arrive. Every reply is stored once, whole: parts the dead worker had stored stay
    stored, parts it had not answered are delivered again to the survivor."""
    handsets = numbers(150, prefix="+467013")
    replies = {h: f"From {h}: thanks, the Tuesday slot works; please confirm the address and the "
                  f"parking details by text, and tell me whether I should bring my papers. " * 2
               for h in handsets}
    async with cluster(fresh_postgres_url, tmp_path) as c:
        victim, _survivor = await c.start_workers(2)
        for handset, body in replies.items():
            await c.sandbox.send_mo(handset, SENDER["from"], body)

        async def stored() -> int:
            async with c.db.read() as conn:
                return int((await conn.execute(text("SELECT count(*) FROM inbounds"))).scalar_one())

        await wait_until(lambda: _at_least(stored, 10), 20.0, "10 replies stored")
        victim.kill()
        at_kill = await stored()
        await wait_until(lambda: _at_least(stored, len(replies)), 30.0, "every reply stored")
        await asyncio.sleep(0.5)  # a duplicate would show up now
        async with c.db.read() as conn:
            rows = (await conn.execute(text("SELECT sender, body FROM inbounds"))).all()
            waiting = (await conn.execute(text("SELECT count(*) FROM mo_parts WHERE assembled_ms IS NULL"))
                       ).scalar_one()
        print(f"long replies: {at_kill} of {len(replies)} stored when a worker was killed")
        assert sorted(rows) == sorted(replies.items())
        assert waiting == 0


async def _at_least(count: Callable[[], Awaitable[int]], minimum: int) -> bool:
    return await count() >= minimum


async def test_redis_restarted_while_the_stream_stays_busy_loses_nothing(fresh_postgres_url: str,
                                                                          tmp_path: Path) -> None:
    """Redis keeps nothing on disk: a restart loses the stream with the entries of messages
    accepted and not yet read, while new sends fill it again at once. Here an entry read by a
    consumer that stays silent (and is not recovered within the test) keeps the stream from ever
    being empty, as steady load does. The lost messages are sent all the same, a lease after the
    restart, not once the stream drains."""
    lost = numbers(100, prefix="+467016")
    async with cluster(fresh_postgres_url, tmp_path, dispatch_lease_seconds="1", sweep_stale_seconds="0.3",
                       stream_claim_idle_seconds="600") as c, httpx.AsyncClient(timeout=10.0) as http:
        await asyncio.gather(*(c.send(http, to=lost[i:i + 50], body="lost with redis", **SENDER)
                               for i in range(0, len(lost), 50)))
        assert await c.redis.xlen(c.stream) > 0  # no worker yet: every entry waits in the stream
        keys = [key async for key in c.redis.scan_iter(match=c.prefix + "*", count=1000)]
        await c.redis.delete(*keys)  # what a restart without persistence does
        await asyncio.sleep(1.2)  # the restart took a moment: what comes next is a lease younger
        await c.redis.xgroup_create(c.stream, GROUP, id="0", mkstream=True)
        held = await c.send(http, to=["+46701700001"], body="held by a silent consumer", **SENDER)
        read = await c.redis.xreadgroup(GROUP, "silent", {c.stream: ">"}, count=1)
        assert read and len(read[0][1]) == 1

        await c.start_workers(1)
        await wait_until(lambda: _received_at_least(c.sandbox, lost, len(lost)), 20.0, "every lost message sent")
        assert await c.pending_by_consumer() == {"silent": 1}  # the stream was never empty
        assert not [n for n in lost if inbox_counts(c.sandbox, lost)[n] != 1]
        async with c.db.read() as conn:
            statuses = dict((await conn.execute(text(
                "SELECT batch_id, status FROM deliveries WHERE recipient = '+46701700001'"))).all())
        assert statuses == {held["id"]: "Queued"}  # its entry is the silent consumer's, not lost
        await wait_all_status(c.db, len(lost), timeout=15.0)


async def _received_at_least(sandbox: Sandbox, recipients: list[str], count: int) -> bool:
    return sum(inbox_counts(sandbox, recipients).values()) >= count


async def _no_pending(c: Cluster) -> bool:
    return sum((await c.pending_by_consumer()).values()) == 0


async def test_entries_read_by_a_dead_worker_are_claimed_by_another(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    """A worker that read stream entries and died before claiming their deliveries: only
    XAUTOCLAIM can recover them (the lease is an hour here, so no sweep republishes them)."""
    recipients = numbers(20)
    async with cluster(fresh_postgres_url, tmp_path, dispatch_lease_seconds="3600",
                       stream_claim_idle_seconds="1", sweep_stale_seconds="0.5") as c, \
            httpx.AsyncClient(timeout=10.0) as http:
        for number in recipients:
            await c.send(http, to=[number], body="held", **SENDER)
        assert await c.redis.xlen(c.stream) == len(recipients)

        # Hold every delivery row locked: the first worker reads entries, then blocks on the claim.
        async with c.db.engine.connect() as lock:
            await lock.execute(text("SELECT id FROM deliveries FOR UPDATE"))
            (victim,) = await c.start_workers(1)

            async def victim_holds_entries() -> bool:
                return sum((await c.pending_by_consumer()).values()) > 0

            await wait_until(victim_holds_entries, 10.0, "the worker to read entries")
            held = await c.pending_by_consumer()
            victim.kill()
            await lock.rollback()

        await c.start_workers(1)
        await wait_all_status(c.db, len(recipients), timeout=20.0)
        assert all(len(c.sandbox.messages_for(n)) == 1 for n in recipients)
        await wait_until(lambda: _no_pending(c), 5.0, "no stream entry left pending")
        assert await c.redis.xlen(c.stream) == 0
        print(f"entries held by the dead worker: {held}")
        assert await status_counts(c.db) == {"Delivered": len(recipients)}


async def test_smsc_cut_while_two_worker_processes_send(fresh_postgres_url: str, tmp_path: Path) -> None:
    """Both workers' SMPP sessions are cut mid-load: each reconnects and nothing is lost."""
    recipients = numbers(200)
    async with cluster(fresh_postgres_url, tmp_path, throughput=200) as c, \
            httpx.AsyncClient(timeout=10.0) as http:
        await c.start_workers(2)
        await asyncio.gather(*(c.send(http, to=recipients[i:i + 100], body="cut", **SENDER)
                               for i in range(0, len(recipients), 100)))
        await wait_until(lambda: _received_at_least(c.sandbox, recipients, 60), 20.0,
                         "60 messages on handsets")
        assert drop_smpp_sessions(c.sandbox) >= 2
        await wait_all_status(c.db, len(recipients), timeout=30.0)
        received = inbox_counts(c.sandbox, recipients)
        assert not [n for n in recipients if received[n] == 0]


async def test_claims_of_a_dead_worker_are_sent_again_while_work_is_queued(
    platform_factory: Any, http: httpx.AsyncClient
) -> None:
    """Both profiles. A worker acknowledges its queue entries once it has claimed their
    deliveries, so a worker that dies holding claims leaves nothing in the queue to recover
    them: the sweep republishes claims older than the lease, and must do so even while other
    work waits in the queue (under steady load it always does)."""
    from sqlalchemy import update

    from tidings.store.schema import deliveries
    from tidings.workers.sweeper import Sweeper
    from tidings.workers.writer import OutcomeWriter

    async with platform_factory(dispatch_lease_seconds=1.0) as platform:
        await platform.stop_worker()
        dead = await platform.send(http, to=["+46701239001"], body="claimed by the dead", **SENDER)
        taken = await platform.ctx.dispatch.take(10, 2.0)
        assert taken is not None and len(taken.ids) == 1
        long_ago = platform.ctx.clock() - 10_000
        async with platform.ctx.db.write() as conn:  # what the dead worker did: claim, then ack
            await conn.execute(update(deliveries).where(deliveries.c.id.in_(taken.ids))
                               .values(claimed_ms=long_ago, published_ms=long_ago, attempts=1))
        await platform.ctx.dispatch.ack(taken)
        queued = await platform.send(http, to=["+46701239002"], body="queued", **SENDER)
        assert await platform.ctx.dispatch.backlog() > 0

        sweeper = Sweeper(platform.ctx, OutcomeWriter(platform.ctx.db, platform.ctx.clock))
        assert await sweeper.republish_stale() == 1

        await platform.start_worker()
        await wait_all_status(platform.ctx.db, 2)
        for number in ("+46701239001", "+46701239002"):
            assert len(await platform.sandbox.wait_for_messages(number, 1)) == 1
        for batch in (dead, queued):
            report = await http.get(platform.xms(f"/batches/{batch['id']}/delivery_report"),
                                    headers=platform.auth)
            assert report.json()["statuses"][0]["status"] == "Delivered"



@pytest.mark.parametrize("profile", ["distributed"])
async def test_entries_lost_with_redis_are_sent_again_while_new_work_keeps_the_queue_busy(
    platform_factory: Any, http: httpx.AsyncClient
) -> None:
    """Redis keeps nothing on disk: a restart (or a flush) loses the stream with the entries of
    deliveries committed and published but not yet claimed. New sends fill the stream again at
    once and, under steady load, it never drains; the sweep must republish the lost ones anyway
    (published a lease before the oldest entry still open) and leave the queued ones alone."""
    from sqlalchemy import select, update

    from tidings.store.schema import deliveries
    from tidings.workers.sweeper import Sweeper
    from tidings.workers.writer import OutcomeWriter

    async with platform_factory(dispatch_lease_seconds=1.0) as platform:
        await platform.stop_worker()
        lost = await platform.send(http, to=["+46701239011", "+46701239012"], body="lost with redis", **SENDER)
        redis = platform.ctx.dispatch._redis  # noqa: SLF001 - what a Redis restart does
        await redis.delete(platform.ctx.dispatch.stream, platform.ctx.dispatch.priority_stream)
        async with platform.ctx.db.write() as conn:  # published a while ago
            await conn.execute(update(deliveries).values(published_ms=platform.ctx.clock() - 10_000))
        await asyncio.sleep(1.2)  # the new entry is more than a lease younger than the lost ones
        queued = await platform.send(http, to=["+46701239013"], body="queued after", **SENDER)
        assert await platform.ctx.dispatch.backlog() == 1

        sweeper = Sweeper(platform.ctx, OutcomeWriter(platform.ctx.db, platform.ctx.clock))
        assert await sweeper.republish_stale() == 2
        assert await sweeper.republish_stale() == 0  # republished: their entries are open now
        async with platform.ctx.db.read() as conn:
            published = dict((await conn.execute(
                select(deliveries.c.recipient, deliveries.c.published_ms))).all())
        assert published["+46701239011"] > published["+46701239013"]  # the queued one untouched

        await platform.start_worker()
        await wait_all_status(platform.ctx.db, 3)
        for number in ("+46701239011", "+46701239012", "+46701239013"):
            assert len(await platform.sandbox.wait_for_messages(number, 1)) == 1
        for batch in (lost, queued):
            report = await http.get(platform.xms(f"/batches/{batch['id']}/delivery_report"),
                                    headers=platform.auth)
            assert {s["status"] for s in report.json()["statuses"]} == {"Delivered"}