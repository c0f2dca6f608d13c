"""Priority: a verification SMS overtakes a bulk backlog queued behind a capped connection, in
both profiles (in-process queue and two-level token bucket; Redis Streams priority stream and
the Redis bucket's priority lane).

5,000 bulk messages to a connection capped at CAP/s would take 5,000 / CAP seconds; the code
must reach the sandbox handset within a couple of seconds while most of the bulk is still
waiting."""

from __future__ import annotations

import time
from typing import Any

import httpx
from sqlalchemy import func, select

from tidings.store import schema
from tidings.testing.platform import Platform

from ...pipeline.conftest import http  # noqa: F401
from ...pipeline.helpers import FROM, wait_until
from .helpers import VerifyClient

CAP = 200
BULK = 5_000
PER_BATCH = 1_000
HANDSET = "+46735550123"


async def dispatched(platform: Platform) -> int:
    d = schema.deliveries
    async with platform.ctx.db.read() as conn:
        query = select(func.count()).select_from(d).where(d.c.status != "Queued")
        return int((await conn.execute(query)).scalar_one())


async def test_verification_sms_overtakes_a_bulk_backlog_on_a_capped_connection(
    platform_factory: Any, http: httpx.AsyncClient  # noqa: F811
) -> None:
    async with platform_factory(connection={"throughput": CAP}) as platform:
        platform.sandbox.set_rule("", latency_ms=0)
        for b in range(BULK // PER_BATCH):
            recipients = [f"+4670{b}{i:06d}" for i in range(PER_BATCH)]
            await platform.send(http, to=recipients, body="Bulk news", **{"from": FROM})

        async def backlog_flowing() -> bool:
            return await dispatched(platform) >= CAP // 2

        await wait_until(backlog_flowing, "the bulk backlog to start flowing", timeout=20.0)

        client = VerifyClient(http, platform.base_url, platform.creds, platform.ctx.clock)
        started = time.monotonic()
        response = await client.start(HANDSET, "sms")
        assert response.status_code == 200, response.text
        inbox = await platform.sandbox.handsets.wait_for(HANDSET, 1, timeout=10.0)
        latency = time.monotonic() - started
        sent_before = await dispatched(platform)

        assert "Your code is" in inbox[0].body
        # The bulk alone would need BULK / CAP seconds (25 s); the code took a fraction of it.
        assert latency < 2.0, f"verification SMS took {latency:.2f} s behind the bulk backlog"
        assert sent_before < BULK // 2, f"the backlog was mostly gone ({sent_before}); nothing was overtaken"
