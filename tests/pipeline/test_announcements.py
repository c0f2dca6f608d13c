"""What an API process of the distributed profile commits for the workers to find in the database
(webhook rows, Conversation API work) is announced to them (`announce_to_workers`), so that they
act at once rather than at their next poll."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from tidings.config import Settings
from tidings.queue.base import CONVERSATIONS, WEBHOOKS
from tidings.queue.local import LocalDispatchQueue
from tidings.runtime.context import Context
from tidings.runtime.distributed import announce_to_workers
from tidings.store.db import Database
from tidings.store.group_commit import GroupCommitter
from tidings.store.schema import webhook_outbox
from tidings.tasks import cancel_and_wait
from tidings.testing.platform import running_platform
from tidings.webhooks import outbox
from tidings.webhooks.testing import WebhookReceiver

from .test_faults_workers import cluster


async def test_an_api_process_announces_commits_that_enqueued_webhooks_and_conversation_work(
        any_db: Database) -> None:
    queue = LocalDispatchQueue()  # announcements reach this process's listeners: enough to see them made
    ctx = Context(Settings(), any_db, GroupCommitter(any_db), queue)
    announce_to_workers(ctx)
    heard: Counter[str] = Counter()
    listener = asyncio.create_task(queue.listen({WEBHOOKS: lambda: heard.update([WEBHOOKS]),
                                                 CONVERSATIONS: lambda: heard.update([CONVERSATIONS])}))
    await asyncio.sleep(0)
    try:
        async with any_db.write() as conn:
            await outbox.enqueue(conn, [outbox.webhook_row("p", "http://127.0.0.1:9/hook", "mo_text", b"{}", 1)])
            assert heard == Counter()  # not before the commit
        assert heard == Counter({WEBHOOKS: 1})
        async with any_db.write() as conn:  # a write that enqueued nothing announces nothing
            await outbox.enqueue(conn, [])
        assert heard == Counter({WEBHOOKS: 1})
        ctx.conversation_work()  # what the API calls once it committed a message for the engine
        assert heard == Counter({WEBHOOKS: 1, CONVERSATIONS: 1})
    finally:
        await cancel_and_wait(listener)


async def test_a_cancel_in_the_api_process_reaches_the_receiver_before_the_workers_poll(
        fresh_postgres_url: str, tmp_path: Path, receiver: WebhookReceiver) -> None:
    """Real `tidings api` and `tidings worker` processes; the worker's webhook poll is set far
    longer than the test may take: the cancel's report can only go out on the announcement."""
    async with cluster(fresh_postgres_url, tmp_path, webhook_poll_seconds="120") as c, \
            httpx.AsyncClient(timeout=10.0) as http:
        await c.start_workers(1)
        await asyncio.sleep(1.0)  # the worker's first webhook round is over: it waits its 120 s now
        batch = await c.send(http, to=["+46701150001"], body="later", delivery_report="per_recipient",
                             callback_url=receiver.url, send_at="2099-01-01T00:00:00Z", **{"from": "Tidings"})
        assert c.creds is not None
        response = await http.delete(f"{c.base_url}/xms/v1/{c.creds.service_plan_id}/batches/{batch['id']}",
                                     headers={"Authorization": f"Bearer {c.creds.api_token}"})
        assert response.status_code == 200, response.text
        await receiver.wait_for(1, timeout=10.0)
        [body] = receiver.bodies
        report = json.loads(body)
        assert (report["type"], report["batch_id"], report["status"], report["code"]) == \
            ("recipient_delivery_report_sms", batch["id"], "Cancelled", 407)


async def test_a_workers_pipeline_acts_on_what_is_announced_on_its_queue(
        platform_factory: Any, receiver: WebhookReceiver) -> None:
    """A webhook row committed without a wake-up of its own (as another process would), then
    announced on the platform's queue, is posted at once; the worker's poll is set far longer
    than the test may take. Distributed, the announcement goes over Redis to the worker."""
    async with platform_factory(webhook_poll_seconds=120.0) as platform:
        await asyncio.sleep(0.5)  # the sender's first round is over: it waits its 120 s now
        row = outbox.webhook_row(platform.creds.project_id, receiver.url, "mo_text", b'{"type": "mo_text"}',
                                 platform.ctx.clock())
        async with platform.ctx.db.write() as conn:
            await conn.execute(insert(webhook_outbox).values(**row))  # not `enqueue`: nothing wakes
        await asyncio.sleep(0.5)
        assert receiver.requests == []
        platform.ctx.dispatch.announce(WEBHOOKS)
        await receiver.wait_for(1, timeout=5.0)
        assert receiver.bodies == [b'{"type": "mo_text"}']


async def test_an_announcement_of_conversation_work_wakes_the_engine(tmp_path: Path) -> None:
    async with running_platform("embedded", str(tmp_path / "data")) as platform:
        heard: list[str] = []
        platform.ctx.conversation_work = lambda: heard.append("woken")  # looked up at each announcement
        platform.ctx.dispatch.announce(CONVERSATIONS)
        assert heard == ["woken"]
