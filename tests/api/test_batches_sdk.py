"""XMS batches through the official Sinch SDK 2.3.0, in both auth modes, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from sinch.domains.sms.api.v1.exceptions import SmsException
from sinch.domains.sms.models.v1.response.dry_run_response import DryRunResponse
from sinch.domains.sms.models.v1.shared.text_response import TextResponse
from sqlalchemy import func, select

from tidings.api.testing import ApiServer, sdk_client
from tidings.store.schema import batches, deliveries

TO = ["+46700000001", "+46700000002"]


async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def rows(api: ApiServer, batch_id: str) -> list[Any]:
    async with api.ctx.db.read() as conn:
        return list(await conn.execute(
            select(deliveries).where(deliveries.c.batch_id == batch_id).order_by(deliveries.c.id)))


async def test_send_get_and_rows(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    client = sdk_client(auth_mode, api.base_url, creds)
    sent = await call(client.sms.batches.send_sms, to=TO + ["46700000001"], from_="+46700000000",
                      body="Hello ${name}", parameters={"name": {"+46700000001": "Ann", "default": "you"}},
                      delivery_report="full", event_destination_target="http://127.0.0.1:1/cb",
                      client_reference="ref1")
    assert isinstance(sent, TextResponse)
    assert sent.to == TO  # normalised and deduplicated
    assert sent.from_ == "+46700000000"
    assert sent.delivery_report == "full"
    assert sent.event_destination_target == "http://127.0.0.1:1/cb"
    assert sent.client_reference == "ref1"
    assert sent.canceled is False
    assert sent.created_at is not None and sent.created_at.tzinfo is not None
    got = await call(client.sms.batches.get, batch_id=sent.id)
    assert isinstance(got, TextResponse)
    assert got.id == sent.id and got.to == TO and got.body == "Hello ${name}"
    assert got.parameters == {"name": {"+46700000001": "Ann", "default": "you"}}
    delivered = await rows(api, sent.id)
    assert [(r.recipient, r.status, r.code, r.encoding, r.segments) for r in delivered] == [
        ("+46700000001", "Queued", 400, "GSM", 1), ("+46700000002", "Queued", 400, "GSM", 1)]
    assert all(r.published_ms is not None for r in delivered)
    assert await api.dispatch.backlog() == 2
