"""Time end to end, in both profiles: `send_at` holds a batch back (across a restart too),
`expire_at` expires what could not be sent in time and, through the submit_sm's validity_period,
what the carrier could not deliver in time; a scheduled batch can be cancelled, and an idempotent
retry sends once."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tidings.store import schema
from tidings.testing.platform import Platform
from tidings.webhooks.testing import WebhookReceiver

from .helpers import FROM, handset_messages, parse_signed, recipient_report, wait_handset, wait_status


def iso_in(seconds: float) -> tuple[str, int]:
    """An XMS date-time `seconds` from now, and the same moment in epoch milliseconds."""
    at_ms = time.time_ns() // 1_000_000 + int(seconds * 1000)
    text = dt.datetime.fromtimestamp(at_ms / 1000, dt.UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z"), at_ms


async def test_send_at_is_not_sent_before_and_is_sent_after(platform: Platform, http: httpx.AsyncClient) -> None:
    recipient = "+46701410001"
    send_at, send_at_ms = iso_in(1.5)
    batch = await platform.send(http, to=[recipient], body="Scheduled hello", send_at=send_at, **{"from": FROM})
    assert batch["send_at"].startswith(send_at[:19])

    await asyncio.sleep(0.8)
    assert (await recipient_report(platform, http, batch["id"], recipient))["status"] == "Queued"
    assert await handset_messages(platform, http, recipient) == []

    [message] = await wait_handset(platform, http, recipient)
    assert message["body"] == "Scheduled hello"
    received_ms = int(dt.datetime.fromisoformat(message["received_at"]).timestamp() * 1000)
    assert received_ms >= send_at_ms
    await wait_status(platform, http, batch["id"], recipient, "Delivered")


async def test_send_at_fires_after_a_restart(platform_factory: Any, http: httpx.AsyncClient) -> None:
    recipient = "+46701420001"
    async with platform_factory() as first:
        send_at, send_at_ms = iso_in(2.0)
        batch = await first.send(http, to=[recipient], body="Sent by the next process",
                                 send_at=send_at, **{"from": FROM})
        creds = first.creds
        assert first.sandbox.messages_for(recipient) == []

    # A new process on the same data directory / database; the batch belongs to the first project.
    async with platform_factory() as second:
        second = dataclasses.replace(second, creds=creds)
        [message] = await second.sandbox.wait_for_messages(recipient, 1, timeout=10.0)
        assert message.body == "Sent by the next process"
        assert message.received_at_ms >= send_at_ms
        report = await wait_status(second, http, batch["id"], recipient, "Delivered")
        assert report["code"] == 0


@pytest.mark.parametrize("held_by", ["worker-stopped", "throttled"])
async def test_expire_at_passed_while_queued_expires_with_406_and_is_never_sent(
    platform: Platform, http: httpx.AsyncClient, held_by: str,
) -> None:
    recipient = "+46701430001"
    if held_by == "worker-stopped":
        await platform.stop_worker()
    else:
        platform.sandbox.set_rule(recipient, throttle_rate=1.0)
    expire_at, expire_at_ms = iso_in(1.0)
    batch = await platform.send(http, to=[recipient], body="Too late", expire_at=expire_at, **{"from": FROM})
    await asyncio.sleep(max(0.0, expire_at_ms / 1000 - time.time()) + 0.1)
    if held_by == "worker-stopped":
        await platform.start_worker()
    else:
        platform.sandbox.set_rule(recipient, throttle_rate=0.0)

    report = await wait_status(platform, http, batch["id"], recipient, "Expired", timeout=15.0)
    assert report["code"] == 406
    # Never sent afterwards, even with the carrier open and the workers running.
    await asyncio.sleep(1.5)
    assert await handset_messages(platform, http, recipient) == []
    assert (await recipient_report(platform, http, batch["id"], recipient))["status"] == "Expired"


async def test_a_message_whose_receipt_never_comes_is_unknown_after_its_expiry_and_reported(
    platform_factory: Any, http: httpx.AsyncClient,
) -> None:
    """The carrier delivers but loses the receipt: the message does not stay Dispatched for ever.
    Once expire_at plus the receipt wait has passed it is Unknown (401: dispatched, nothing heard
    since), and its final report goes out."""
    recipient = "+46701480001"
    receiver = WebhookReceiver()
    await receiver.start()
    try:
        async with platform_factory(receipt_wait_seconds=1.0, sweep_stale_seconds=0.5) as platform:
            platform.sandbox.set_rule(recipient, receipt_loss_rate=1.0)
            expire_at, expire_at_ms = iso_in(1.5)
            batch = await platform.send(http, to=[recipient], body="No receipt", expire_at=expire_at,
                                        delivery_report="per_recipient_final", callback_url=receiver.url,
                                        **{"from": FROM})
            [message] = await wait_handset(platform, http, recipient)
            assert message["body"] == "No receipt"
            assert (await recipient_report(platform, http, batch["id"], recipient))["status"] == "Dispatched"

            report = await wait_status(platform, http, batch["id"], recipient, "Unknown", timeout=15.0)
            assert report["code"] == 401
            assert time.time() * 1000 >= expire_at_ms + 1000  # not before the deadline
            await receiver.wait_for(1)
            events = parse_signed(platform, receiver)
            assert [(e.recipient, e.status, e.code) for e in events] == [(recipient, "Unknown", 401)]
            summary = await http.get(platform.xms(f"/batches/{batch['id']}/delivery_report"), headers=platform.auth)
            assert summary.json()["statuses"] == [{"code": 401, "status": "Unknown", "count": 1}]
    finally:
        await receiver.stop()


async def carrier_latency(platform: Platform, http: httpx.AsyncClient, number: str, latency_ms: int) -> None:
    """The sandbox carrier's rule for `number`, set through its REST API."""
    response = await http.put(f"{platform.base_url}/sandbox/v1/rules/{number.lstrip('+')}",
                              json={"latency_ms": latency_ms})
    assert response.status_code in (200, 201, 204), response.text


async def part_statuses(platform: Platform, batch_id: str) -> list[str]:
    """The status the carrier's receipts gave each submitted part of the batch's messages."""
    async with platform.ctx.db.read() as conn:
        rows = await conn.execute(
            select(schema.submissions.c.status)
            .join(schema.deliveries, schema.deliveries.c.id == schema.submissions.c.delivery_id)
            .where(schema.deliveries.c.batch_id == batch_id))
        return [r[0] for r in rows]


async def test_expire_at_passed_at_the_carrier_expires_and_the_handset_never_gets_it(
    platform: Platform, http: httpx.AsyncClient,
) -> None:
    """Sent at once, but the carrier would take 5 s: the submit_sm's validity_period ends with the
    batch's expire_at, 2 s away, so the carrier gives up then and says EXPIRED."""
    recipient = "+46701460001"
    await carrier_latency(platform, http, recipient, 5000)
    expire_at, expire_at_ms = iso_in(2.0)
    body = "Your one-time code is 123456; it is no use to anyone in two hours. " * 3  # two parts
    batch = await platform.send(http, to=[recipient], body=body, expire_at=expire_at, **{"from": FROM})
    sent_s = time.time()

    report = await wait_status(platform, http, batch["id"], recipient, "Expired", timeout=10.0)
    assert time.time() < sent_s + 4.5  # when the validity ended, not after the carrier's 5 s
    assert time.time() * 1000 >= expire_at_ms - 50
    assert (report["code"], report["number_of_message_parts"]) == (406, 2)
    assert await part_statuses(platform, batch["id"]) == ["Expired", "Expired"]  # the carrier's receipts said so
    await asyncio.sleep(max(0.0, sent_s + 5.5 - time.time()))  # the carrier's latency is over
    assert await handset_messages(platform, http, recipient) == []
    assert (await recipient_report(platform, http, batch["id"], recipient))["status"] == "Expired"


async def test_expire_at_after_the_carrier_s_latency_is_delivered(platform: Platform, http: httpx.AsyncClient) -> None:
    recipient = "+46701470001"
    await carrier_latency(platform, http, recipient, 500)
    expire_at, _ = iso_in(30.0)
    batch = await platform.send(http, to=[recipient], body="In good time", expire_at=expire_at, **{"from": FROM})
    report = await wait_status(platform, http, batch["id"], recipient, "Delivered")
    assert report["code"] == 0
    [message] = await wait_handset(platform, http, recipient)
    assert message["body"] == "In good time"
    assert await part_statuses(platform, batch["id"]) == ["Delivered"]


async def test_cancel_before_send_at_cancels_with_407_and_never_sends(
    platform: Platform, http: httpx.AsyncClient,
) -> None:
    to = ["+46701440001", "+46701440002"]
    send_at, send_at_ms = iso_in(1.0)
    receiver = WebhookReceiver()
    await receiver.start()
    try:
        batch = await platform.send(http, to=to, body="Never", send_at=send_at, delivery_report="per_recipient",
                                    callback_url=receiver.url, **{"from": FROM})
        cancelled = await http.delete(platform.xms(f"/batches/{batch['id']}"), headers=platform.auth)
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["canceled"] is True
        for recipient in to:
            report = await recipient_report(platform, http, batch["id"], recipient)
            assert (report["status"], report["code"]) == ("Cancelled", 407)
        await receiver.wait_for(2)
        events = parse_signed(platform, receiver)
        assert sorted((e.recipient, e.status, e.code) for e in events) == [(r, "Cancelled", 407) for r in to]
    finally:
        await receiver.stop()

    await asyncio.sleep(max(0.0, send_at_ms / 1000 - time.time()) + 1.0)
    for recipient in to:
        assert await handset_messages(platform, http, recipient) == []
        assert (await recipient_report(platform, http, batch["id"], recipient))["status"] == "Cancelled"
    summary = await http.get(platform.xms(f"/batches/{batch['id']}/delivery_report"), headers=platform.auth)
    assert summary.json()["statuses"] == [{"code": 407, "status": "Cancelled", "count": 2}]


async def test_idempotent_retries_send_once(platform: Platform, http: httpx.AsyncClient) -> None:
    recipient = "+46701450001"
    request = {"to": [recipient], "body": "Only once", "from": FROM}
    headers = {**platform.auth, "Idempotency-Key": "order-4711"}
    responses = await asyncio.gather(*(
        http.post(platform.xms("/batches"), json=request, headers=headers) for _ in range(4)
    ))
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    batch_id = responses[0].json()["id"]
    await wait_status(platform, http, batch_id, recipient, "Delivered")

    again = await http.post(platform.xms("/batches"), json=request, headers=headers)
    assert (again.status_code, again.json()["id"]) == (200, batch_id)
    await asyncio.sleep(0.5)
    assert len(await handset_messages(platform, http, recipient)) == 1
    listed = await http.get(platform.xms("/batches"), headers=platform.auth)
    assert listed.json()["count"] == 1
