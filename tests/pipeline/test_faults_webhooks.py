"""A webhook receiver that is down (connection refused, then HTTP 500) is retried with backoff
and gets every report once it is up; reports pending when the platform stops are sent after it
starts again. Both profiles; callbacks validated with the official SDK."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import select

from tidings.store.db import Database
from tidings.store.schema import webhook_outbox
from tidings.webhooks.testing import WebhookReceiver

from .faults_support import wait_all_status, wait_until
from .helpers import sdk_events

SENDER = {"from": "+46700000000"}
TO = ["+46701230001", "+46701230002", "+46701230003"]
RETRY_BASE = 0.2  # seconds; doubles per failure


async def outbox_rows(db: Database) -> list[Any]:
    async with db.read() as conn:
        query = select(webhook_outbox.c.state, webhook_outbox.c.attempts, webhook_outbox.c.last_error,
                       webhook_outbox.c.claimed_ms)
        return list(await conn.execute(query))


def reports(secret: str, requests: list[Any]) -> list[tuple[str, str, str]]:
    events = sdk_events(secret)
    parsed = []
    for request in requests:
        assert events.validate_authentication_header(request.headers, request.body)
        event = events.parse_event(request.body, request.headers)
        parsed.append((event.batch_id, event.recipient, event.status))
    return parsed


class TimedReceiver(WebhookReceiver):
    """Also notes when each request arrived (loop time)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.times.append(asyncio.get_running_loop().time())
        await super().__call__(scope, receive, send)


async def test_receiver_refusing_then_failing_gets_every_report_once_up(
    platform_factory: Any, http: httpx.AsyncClient
) -> None:
    receiver = TimedReceiver()  # bound, not listening: connections are refused
    try:
        async with platform_factory(webhook_retry_base_seconds=RETRY_BASE) as platform:
            batch = await platform.send(http, to=TO, body="hooks", delivery_report="per_recipient_final",
                                        callback_url=receiver.url, **SENDER)
            await wait_all_status(platform.ctx.db, len(TO))

            async def refused_twice() -> bool:
                # Past the first failure one report at a time probes the failing URL; the
                # others wait for it, untried.
                rows = await outbox_rows(platform.ctx.db)
                return len(rows) == len(TO) and max(r.attempts for r in rows) >= 2

            await wait_until(refused_twice, 10.0, "the refusing receiver to be probed again")
            rows = await outbox_rows(platform.ctx.db)
            assert all(r.state == "pending" for r in rows), rows
            assert all("Connect" in r.last_error for r in rows if r.attempts), rows

            receiver.statuses.extend([500, 500])  # up, but failing twice
            await receiver.start()
            await receiver.wait_for(2 + len(TO), timeout=15.0)

            async def all_delivered() -> bool:
                return all(r.state == "delivered" for r in await outbox_rows(platform.ctx.db))

            await wait_until(all_delivered, 10.0, "every report recorded as delivered")
            secret = platform.creds.webhook_secret
        failed, succeeded = receiver.requests[:2], receiver.requests[2:]
        assert sorted(reports(secret, succeeded)) == [(batch["id"], n, "Delivered") for n in TO]
        assert set(reports(secret, failed)) <= set(reports(secret, succeeded))
        # Each retry after a 500 waited its backoff: at least the base less its jitter. That the
        # backoff doubles is tests/webhooks/test_sender.py's to show, on a clock of its own:
        # arrival times here carry the machine's load (seen on a loaded one: 1.70 s, then 1.56 s).
        gaps = [later - earlier for earlier, later in zip(receiver.times[:2], receiver.times[1:3], strict=True)]
        assert min(gaps) >= 0.8 * RETRY_BASE, receiver.times
    finally:
        await receiver.stop()


async def test_pending_reports_survive_a_restart(platform_factory: Any, http: httpx.AsyncClient) -> None:
    receiver = WebhookReceiver()
    try:
        async with platform_factory(webhook_retry_base_seconds=RETRY_BASE) as platform:
            batch = await platform.send(http, to=TO, body="restart", delivery_report="per_recipient_final",
                                        callback_url=receiver.url, **SENDER)
            await wait_all_status(platform.ctx.db, len(TO))

            async def tried() -> bool:
                rows = await outbox_rows(platform.ctx.db)
                return len(rows) == len(TO) and max(r.attempts for r in rows) >= 1

            await wait_until(tried, 10.0, "the receiver to have been tried")
            secret = platform.creds.webhook_secret
        assert receiver.requests == []

        await receiver.start()
        async with platform_factory(webhook_retry_base_seconds=RETRY_BASE) as restarted:
            await receiver.wait_for(len(TO), timeout=15.0)

            async def all_delivered() -> bool:
                return all(r.state == "delivered" for r in await outbox_rows(restarted.ctx.db))

            await wait_until(all_delivered, 10.0, "every report recorded as delivered")
        assert sorted(reports(secret, receiver.requests)) == [(batch["id"], n, "Delivered") for n in TO]
    finally:
        await receiver.stop()
