"""Distributed profile: PostgreSQL connections lost in the middle of a load — cut without a reset
(a host or the network gone, nothing to tell the client: the statements on them fail within the
statement timeout) or closed by the server (a restart, a failover) — or Redis connections cut
without a reset (their commands fail within the socket timeout). The connections are dropped,
the API answers 503 meanwhile (PostgreSQL; without Redis it goes on accepting), and the API and
the worker go on on new ones: every message the API accepted is delivered, once, and its
delivery report is posted. Embedded: SQLite
locked by another program is a 503 too."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections import Counter
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from sqlalchemy import text

from tidings.store.db import Database
from tidings.testing.platform import running_platform
from tidings.testing.relay import FreezingRelay
from tidings.testing.services import REDIS_URL
from tidings.webhooks.testing import WebhookReceiver

from .faults_support import inbox_counts, numbers, status_counts, wait_all_status, wait_until

SENDER = "+46700000000"


async def _send_until_accepted(http: httpx.AsyncClient, url: str, auth: dict[str, str], batch: dict[str, Any],
                               answers: Counter[int]) -> str:
    """POST the batch until it is accepted, as a client does after a 5xx, with the same
    Idempotency-Key each time (a batch committed before its answer was lost is not sent twice)."""
    headers = {**auth, "Idempotency-Key": uuid.uuid4().hex}
    for _ in range(40):
        response = await http.post(url, json=batch, headers=headers)
        answers[response.status_code] += 1
        if response.status_code == 201:
            return str(response.json()["id"])
        # The database's fault, not the request's: 503 in XMS's format, to be tried again.
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "service_unavailable"
        assert response.headers["retry-after"] == "1"
    raise AssertionError(f"not accepted after 40 tries: {answers}")


async def _terminate_others(db: Database) -> int:
    """What a PostgreSQL restart or failover does to every other connection: closed by the server."""
    async with db.read() as conn:
        return len((await conn.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"))).all())


@pytest.mark.parametrize("fault", ["postgresql frozen", "postgresql closed by the server", "redis frozen",
                                   "redis cut off"])
async def test_connections_lost_mid_load_lose_nothing(fault: str, fresh_postgres_url: str, tmp_path: Any,
                                                      receiver: WebhookReceiver) -> None:
    """`frozen`: cut without a reset, each statement or command on them unanswered until the
    timeout. `closed by the server`: every connection terminated, as in a restart or a failover.
    `cut off`: the network to Redis gone for a while, new connections hanging too."""
    pg_relay = FreezingRelay(urlparse(fresh_postgres_url).port or 5432)
    redis_relay = FreezingRelay(urlparse(REDIS_URL).port or 6379)
    await pg_relay.start()
    await redis_relay.start()
    direct = Database(fresh_postgres_url, pool_size=1)
    first, second = numbers(60, "+467013"), numbers(40, "+467014")
    answers: Counter[int] = Counter()
    try:
        async with running_platform("distributed", str(tmp_path / "data"),
                                    database_url=pg_relay.url(fresh_postgres_url),
                                    redis_url=redis_relay.url(REDIS_URL), database_timeout_seconds=0.5,
                                    # not the stream's recovery of idle entries: a failed claim
                                    # gives its ids back at once
                                    stream_claim_idle_seconds=600) as p, \
                httpx.AsyncClient(timeout=30.0) as http:
            auth = p.auth
            url = p.xms("/batches")
            callback = {"delivery_report": "per_recipient_final", "callback_url": receiver.url}
            await _send_until_accepted(http, url, auth, {"from": SENDER, "to": first, "body": "before",
                                                         **callback}, answers)
            # Every connection of the API and the worker, mid-dispatch.
            if fault == "postgresql frozen":
                pg_relay.freeze_all()
            elif fault == "redis frozen":
                redis_relay.freeze_all()
            elif fault == "redis cut off":
                redis_relay.cut()
            else:
                assert await _terminate_others(direct) >= 2
            await _send_until_accepted(http, url, auth, {"from": SENDER, "to": second, "body": "after",
                                                         **callback}, answers)
            if fault.startswith("postgresql"):
                assert answers[503] >= 1  # the API's lost connections were met, and dropped
            else:  # accepting needs the database only: the publish that failed is left to the sweeper
                assert answers == Counter({201: 2})
            sent = first + second
            if fault == "redis cut off":
                # The first publish waited out the socket timeout (5 s); the next ones are not
                # tried for a moment: a send is not held that long again.
                third = numbers(5, "+467015")
                started = time.monotonic()
                await _send_until_accepted(http, url, auth, {"from": SENDER, "to": third, "body": "cut",
                                                             **callback}, answers)
                assert time.monotonic() - started < 2.5
                assert answers == Counter({201: 3})
                sent += third
                redis_relay.heal()
            await wait_all_status(direct, len(sent), timeout=30.0)

            async def reported() -> bool:
                return len(receiver.requests) >= len(sent)

            await wait_until(reported, 30.0, "every recipient's delivery report")
            handsets = inbox_counts(p.sandbox, sent)
            assert set(handsets.values()) == {1}, handsets  # each delivered once
            reports = Counter(json.loads(r.body)["recipient"] for r in receiver.requests)
            assert reports == Counter(sent)
            assert await status_counts(direct) == {"Delivered": len(sent)}
    finally:
        await direct.aclose()
        await pg_relay.stop()
        await redis_relay.stop()


async def test_sqlite_locked_by_another_program_is_503_and_changes_nothing(tmp_path: Any) -> None:
    """Embedded: another program holding SQLite's write lock past the busy timeout (a backup tool,
    a `sqlite3` shell in a transaction): a send is answered 503 with Retry-After and writes
    nothing; once the lock is let go the same request is accepted and delivered."""
    async with running_platform("embedded", str(tmp_path / "data")) as p, httpx.AsyncClient(timeout=30.0) as http:
        batch = {"from": SENDER, "to": ["+46701500001"], "body": "while locked"}
        other = sqlite3.connect(str(tmp_path / "data" / "tidings.db"), isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            response = await http.post(p.xms("/batches"), json=batch, headers=p.auth)
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "service_unavailable"
            assert response.headers["retry-after"] == "1"
            other.execute("ROLLBACK")
            assert other.execute("SELECT count(*) FROM batches").fetchone() == (0,)
        finally:
            other.close()
        accepted = await p.send(http, **batch)
        await wait_all_status(p.ctx.db, 1)
        handset = p.sandbox.messages_for("+46701500001")
        assert [m.body for m in handset] == ["while locked"], accepted
