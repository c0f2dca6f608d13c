"""Work accepted by the API wakes the conversation engine of the same process
(`Context.conversation_work`): with polls 5 s apart, a message and an app event are still acted
on within a second or two."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import select

from tidings.api.testing import ApiServer
from tidings.conversations.engine import ConversationEngine
from tidings.store.conversation_schema import conv_app_events

from ...conversations.test_engine_claims import CountingConnector


async def _within(seconds: float, done: Callable[[], Awaitable[bool]]) -> None:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if await done():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not within {seconds} s")


async def test_work_accepted_by_this_process_is_acted_on_at_once(api: ApiServer) -> None:
    """Polls 5 s apart: a message and an app event accepted through the API are picked up within a
    second all the same, because accepting them wakes the engine."""
    connector = CountingConnector()
    engine = ConversationEngine(api.ctx.db, api.ctx.clock, {"SMS": connector},  # type: ignore[dict-item]
                                poll_seconds=5.0, idle_poll_seconds=5.0)
    api.ctx.conversation_work = engine.wakeup.set
    creds = await api.project()
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            token = (await http.post(f"{api.base_url}/oauth2/token", auth=(creds.key_id, creds.key_secret),
                                     data={"grant_type": "client_credentials"})).json()["access_token"]
            h = {"Authorization": f"Bearer {token}"}
            base = f"{api.base_url}/v1/projects/{creds.project_id}"
            sms = {"channel": "SMS", "static_bearer": {"claimed_identity": creds.service_plan_id, "token": "x"}}
            app = (await http.post(f"{base}/apps", headers=h,
                                   json={"display_name": "A", "channel_credentials": [sms]})).json()
            await asyncio.sleep(0.2)  # the engine's first round found nothing: its next is 5 s away
            recipient = {"identified_by": {"channel_identities": [{"channel": "SMS", "identity": "+46705550001"}]}}
            r = await http.post(f"{base}/messages:send", headers=h, json={
                "app_id": app["id"], "recipient": recipient, "message": {"text_message": {"text": "now"}}})
            assert r.status_code == 200, r.text
            async def sent() -> bool:
                return bool(connector.sent)

            await _within(3.0, sent)
            assert [m.message_id for m in connector.sent] == [r.json()["message_id"]]
            await asyncio.sleep(0.2)  # idle again: the next poll is 5 s away
            r = await http.post(f"{base}/events:send", headers=h, json={
                "app_id": app["id"], "recipient": recipient, "event": {"composing_event": {}}})
            assert r.status_code == 200, r.text

            async def event_done() -> bool:
                async with api.ctx.db.read() as conn:
                    state = (await conn.execute(select(conv_app_events.c.state))).scalar_one()
                return state != "PENDING"  # FAILED here: the connector shows no app events

            await _within(3.0, event_done)
    finally:
        stop.set()
        engine.wakeup.set()
        await asyncio.wait_for(task, 5.0)
