"""A connection's throughput cap holds end to end, in both profiles (in-process token bucket;
Redis-shared bucket): 100 messages to a connection capped at 50/s go out no faster than that."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from tidings.store import schema
from tidings.testing.platform import Platform

from .helpers import FROM, wait_until

CAP = 50
MESSAGES = 100


async def submitted_times(platform: Platform, batch_id: str) -> list[int]:
    s, d = schema.submissions, schema.deliveries
    async with platform.ctx.db.read() as conn:
        rows = await conn.execute(
            select(s.c.submitted_ms).select_from(s.join(d, d.c.id == s.c.delivery_id)).where(d.c.batch_id == batch_id)
        )
        return sorted(r[0] for r in rows)


async def test_send_rate_stays_under_the_connection_cap(platform_factory: Any, http: httpx.AsyncClient) -> None:
    recipients = [f"+467016{i:05d}" for i in range(MESSAGES)]
    async with platform_factory(connection={"throughput": CAP}) as platform:
        platform.sandbox.set_rule("", latency_ms=0)
        batch = await platform.send(http, to=recipients, body="Rate limited", **{"from": FROM})

        async def all_delivered() -> bool:
            response = await http.get(platform.xms(f"/batches/{batch['id']}/delivery_report"),
                                      headers=platform.auth)
            return response.json()["statuses"] == [{"code": 0, "status": "Delivered", "count": MESSAGES}]

        await wait_until(all_delivered, f"{MESSAGES} deliveries", timeout=20.0)
        times = await submitted_times(platform, batch["id"])
        assert len(times) == MESSAGES
        span_s = (times[-1] - times[0]) / 1000
        rate = (MESSAGES - 1) / span_s
        # The bucket starts full with a burst of a tenth of a second's worth; after it, the cap.
        burst = max(1, CAP // 10)
        paced = (MESSAGES - 1 - burst) / span_s
        assert paced <= CAP * 1.1, f"{paced:.1f} msg/s after the burst, over {span_s:.2f}s, cap {CAP}"
        # The cap paces, it does not stall: well above half of it.
        assert rate >= CAP * 0.5, f"only {rate:.1f} msg/s"
