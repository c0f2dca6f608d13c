"""Delivery report callbacks end to end, in both profiles: a batch sent through the XMS API,
delivered over SMPP by the sandbox, reported to a real receiver in Sinch's signed JSON shapes,
validated and parsed by the official SDK's `sinch_events`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from sinch.domains.sms.models.v1.response import BatchDeliveryReport, RecipientDeliveryReport

from tidings.testing.platform import Platform, running_platform
from tidings.webhooks import signing
from tidings.webhooks.testing import WebhookReceiver

from .helpers import FROM, parse_signed, sdk_events, set_plan_callback, wait_status


async def test_per_recipient_reports_every_change_signed_to_the_batch_callback(
    platform: Platform, http: httpx.AsyncClient, receiver: WebhookReceiver,
) -> None:
    to = ["+46701110001", "+46701110002"]
    platform.sandbox.set_rule("+46701110002", failure_rate=1.0, error_code=27)
    batch = await platform.send(http, to=to, body="per recipient", delivery_report="per_recipient",
                                callback_url=receiver.url, client_reference="order-1", **{"from": FROM})
    await wait_status(platform, http, batch["id"], to[0], "Delivered")
    await wait_status(platform, http, batch["id"], to[1], "Failed")
    # Dispatched and a final status for each recipient.
    await receiver.wait_for(4)

    for request in receiver.requests:
        assert request.path == "/hooks/sms"
        assert request.headers["content-type"] == "application/json"
        assert {signing.SIGNATURE_HEADER, signing.NONCE_HEADER, signing.TIMESTAMP_HEADER} <= set(request.headers)
    parsed = parse_signed(platform, receiver)
    assert all(isinstance(e, RecipientDeliveryReport) for e in parsed)
    assert all(e.type == "recipient_delivery_report_sms" and e.batch_id == batch["id"] for e in parsed)
    assert all(e.client_reference == "order-1" for e in parsed)
    seen = sorted((e.recipient, e.status, e.code) for e in parsed)
    assert seen == [(to[0], "Delivered", 0), (to[0], "Dispatched", 401),
                    (to[1], "Dispatched", 401), (to[1], "Failed", 27)]
    # A different secret does not validate them.
    stranger = sdk_events("not-the-project-secret")
    assert not any(stranger.validate_authentication_header(r.headers, r.body) for r in receiver.requests)


async def test_per_recipient_final_reports_only_final_statuses(
    platform: Platform, http: httpx.AsyncClient, receiver: WebhookReceiver,
) -> None:
    to = ["+46701120001", "+46701120002", "+46701120003"]
    batch = await platform.send(http, to=to, body="final only", delivery_report="per_recipient_final",
                                callback_url=receiver.url, **{"from": FROM})
    for recipient in to:
        await wait_status(platform, http, batch["id"], recipient, "Delivered")
    await receiver.wait_for(3)
    parsed = parse_signed(platform, receiver)
    assert sorted((e.recipient, e.status, e.code) for e in parsed) == [(r, "Delivered", 0) for r in to]
    # Give a stray Dispatched report the time to show up: there must be none.
    await platform.sandbox.wait_for_messages(to[0], 1)
    assert len(receiver.requests) == 3


@pytest.mark.parametrize("report_type", ["summary", "full"])
async def test_batch_report_is_sent_once_when_every_recipient_is_final(
    platform: Platform, http: httpx.AsyncClient, receiver: WebhookReceiver, report_type: str,
) -> None:
    to = ["+46701130001", "+46701130002", "+46701130003"]
    # One recipient's carrier is slow: no report may be sent before it is final too.
    platform.sandbox.set_rule("+46701130003", latency_ms=1500, failure_rate=1.0, error_code=34)
    batch = await platform.send(http, to=to, body="batch report", delivery_report=report_type,
                                callback_url=receiver.url, client_reference="ref-b", **{"from": FROM})
    await wait_status(platform, http, batch["id"], to[0], "Delivered")
    await wait_status(platform, http, batch["id"], to[1], "Delivered")
    assert receiver.requests == []
    await wait_status(platform, http, batch["id"], to[2], "Failed")
    await receiver.wait_for(1)

    [event] = parse_signed(platform, receiver)
    assert isinstance(event, BatchDeliveryReport)
    assert event.type == "delivery_report_sms"
    assert event.batch_id == batch["id"]
    assert event.total_message_count == 3
    assert event.client_reference == "ref-b"
    statuses = sorted((s.status, s.code, s.count, sorted(s.recipients or [])) for s in event.statuses)
    if report_type == "full":
        assert statuses == [("Delivered", 0, 2, to[:2]), ("Failed", 34, 1, to[2:])]
    else:
        assert statuses == [("Delivered", 0, 2, []), ("Failed", 34, 1, [])]
    # Reported once: a later sweep round does not send it again.
    await _another_sweep(platform)
    assert len(receiver.requests) == 1


async def test_service_plan_callback_url_is_used_when_the_batch_has_none(
    platform: Platform, http: httpx.AsyncClient, receiver: WebhookReceiver,
) -> None:
    await set_plan_callback(platform, receiver.url)
    batch = await platform.send(http, to=["+46701140001"], body="plan url",
                                delivery_report="per_recipient_final", **{"from": FROM})
    await wait_status(platform, http, batch["id"], "+46701140001", "Delivered")
    await receiver.wait_for(1)
    [event] = parse_signed(platform, receiver)
    assert isinstance(event, RecipientDeliveryReport)
    assert (event.batch_id, event.recipient, event.status) == (batch["id"], "+46701140001", "Delivered")

    # The batch's own callback_url wins over the plan's.
    other = WebhookReceiver("/batch-hook")
    await other.start()
    try:
        batch = await platform.send(http, to=["+46701140002"], body="batch url", callback_url=other.url,
                                    delivery_report="summary", **{"from": FROM})
        await wait_status(platform, http, batch["id"], "+46701140002", "Delivered")
        await other.wait_for(1)
        assert isinstance(parse_signed(platform, other)[0], BatchDeliveryReport)
        assert len(receiver.requests) == 1
    finally:
        await other.stop()


async def test_no_report_is_sent_for_delivery_report_none(
    platform: Platform, http: httpx.AsyncClient, receiver: WebhookReceiver,
) -> None:
    batch = await platform.send(http, to=["+46701150001"], body="quiet", delivery_report="none",
                                callback_url=receiver.url, **{"from": FROM})
    await wait_status(platform, http, batch["id"], "+46701150001", "Delivered")
    await _another_sweep(platform)
    assert receiver.requests == []


async def _another_sweep(platform: Platform) -> None:
    """Wait long enough for the sweeper's batch-report round and the webhook sender to run again."""
    await asyncio.sleep(1.0)


async def test_reports_are_posted_as_soon_as_written_not_at_the_next_poll(
    platform_factory: Any, http: httpx.AsyncClient, receiver: WebhookReceiver,
) -> None:
    """The outcome writer wakes its pipeline's sender after a flush that enqueued webhooks; the
    poll, set here far longer than the test may take, is only for rows written elsewhere."""
    async with platform_factory(webhook_poll_seconds=120.0) as platform:
        await asyncio.sleep(0.5)  # the sender's first round is over: it waits its 120 s now
        to = "+46701130001"
        batch = await platform.send(http, to=[to], body="at once", delivery_report="per_recipient",
                                    callback_url=receiver.url, **{"from": FROM})
        await wait_status(platform, http, batch["id"], to, "Delivered")
        await receiver.wait_for(2, timeout=10.0)  # Dispatched, then Delivered
        assert sorted(e.status for e in parse_signed(platform, receiver)) == ["Delivered", "Dispatched"]


async def test_reports_the_api_writes_in_the_same_process_are_posted_at_once_too(
    tmp_path: Path, http: httpx.AsyncClient, receiver: WebhookReceiver,
) -> None:
    """Embedded: a cancel's reports are written by the API, in the process whose pipeline posts
    them; its commit wakes the sender (`Database.after_write`). Distributed, the API is another
    process and they wait for the worker's poll."""
    async with running_platform("embedded", str(tmp_path / "data"), webhook_poll_seconds=120.0) as platform:
        await asyncio.sleep(0.5)  # the sender's first round is over: it waits its 120 s now
        batch = await platform.send(http, to=["+46701140001"], body="later", delivery_report="per_recipient",
                                    callback_url=receiver.url, send_at="2099-01-01T00:00:00Z", **{"from": FROM})
        response = await http.delete(platform.xms(f"/batches/{batch['id']}"), headers=platform.auth)
        assert response.status_code == 200, response.text
        await receiver.wait_for(1, timeout=10.0)
        [report] = parse_signed(platform, receiver)
        assert (report.status, report.code) == ("Cancelled", 407)
