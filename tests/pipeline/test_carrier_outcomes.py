"""What the carrier does decides the status, end to end in both profiles: throttling is retried
until it clears, a refused submit_sm fails with its SMPP status, an UNDELIV receipt fails with
its error code, and a lost receipt leaves the message Dispatched (sent, outcome unknown)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import select

from tidings.smpp.constants import CommandStatus
from tidings.store import schema
from tidings.testing.platform import Platform

from .helpers import FROM, handset_messages, recipient_report, wait_handset, wait_status, wait_until


async def attempts(platform: Platform, batch_id: str) -> int:
    async with platform.ctx.db.read() as conn:
        rows = await conn.execute(select(schema.deliveries.c.attempts).where(schema.deliveries.c.batch_id == batch_id))
        return sum(r[0] for r in rows)


async def test_throttled_submits_are_retried_later_then_delivered(
    platform: Platform, http: httpx.AsyncClient,
) -> None:
    recipient = "+46701510001"
    platform.sandbox.set_rule(recipient, throttle_rate=1.0)
    batch = await platform.send(http, to=[recipient], body="Patience", delivery_report="full", **{"from": FROM})

    async def retried() -> bool:
        return await attempts(platform, batch["id"]) >= 2

    await wait_until(retried, "a second submission attempt")
    report = await recipient_report(platform, http, batch["id"], recipient)
    assert (report["status"], report["code"]) == ("Queued", 400)
    assert await handset_messages(platform, http, recipient) == []

    platform.sandbox.set_rule(recipient, throttle_rate=0.0)
    report = await wait_status(platform, http, batch["id"], recipient, "Delivered", timeout=15.0)
    assert report["code"] == 0
    [message] = await wait_handset(platform, http, recipient)
    assert message["body"] == "Patience"


@pytest.mark.parametrize("reject_status", [CommandStatus.ESME_RSUBMITFAIL, CommandStatus.ESME_RINVSRCADR])
async def test_permanent_submit_refusal_fails_with_the_smpp_status(
    platform: Platform, http: httpx.AsyncClient, reject_status: int,
) -> None:
    refused, fine = "+46701520001", "+46701520002"
    platform.sandbox.set_rule(refused, reject_rate=1.0, reject_status=int(reject_status))
    batch = await platform.send(http, to=[refused, fine], body="Refused", **{"from": FROM})
    report = await wait_status(platform, http, batch["id"], refused, "Failed")
    assert report["code"] == int(reject_status)
    await wait_status(platform, http, batch["id"], fine, "Delivered")
    assert await attempts(platform, batch["id"]) == 2  # not retried
    assert await handset_messages(platform, http, refused) == []


@pytest.mark.parametrize("error_code", [1, 27])
async def test_undeliverable_receipt_fails_with_its_error_code(
    platform: Platform, http: httpx.AsyncClient, error_code: int,
) -> None:
    recipient = "+46701530001"
    platform.sandbox.set_rule(recipient, failure_rate=1.0, error_code=error_code)
    # A long message: every part's receipt says UNDELIV.
    body = "Undeliverable " * 20
    batch = await platform.send(http, to=[recipient], body=body, **{"from": FROM})
    report = await wait_status(platform, http, batch["id"], recipient, "Failed")
    assert report["code"] == error_code
    assert report["number_of_message_parts"] == 2
    assert await handset_messages(platform, http, recipient) == []


async def test_lost_receipt_leaves_the_message_dispatched(platform: Platform, http: httpx.AsyncClient) -> None:
    recipient = "+46701540001"
    platform.sandbox.set_rule(recipient, receipt_loss_rate=1.0, latency_ms=0)
    batch = await platform.send(http, to=[recipient], body="No receipt", **{"from": FROM})
    [message] = await wait_handset(platform, http, recipient)
    assert message["body"] == "No receipt"
    report = await wait_status(platform, http, batch["id"], recipient, "Dispatched")
    assert report["code"] == 401
    # A receipt that never comes does not make it up: still Dispatched well after delivery.
    await asyncio.sleep(1.0)
    report = await recipient_report(platform, http, batch["id"], recipient)
    assert (report["status"], report["code"]) == ("Dispatched", 401)
