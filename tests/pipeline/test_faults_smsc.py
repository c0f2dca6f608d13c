"""Faults on the SMSC side, in both profiles: connections cut mid-load, receipts that come before
their submission is recorded, receipts that come twice or contradict a final status."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx

from tidings.core.statuses import Status
from tidings.testing.platform import Platform

from .faults_support import (
    bound_sessions,
    drop_smpp_sessions,
    inbox_counts,
    numbers,
    retried_deliveries,
    status_counts,
    wait_all_status,
    wait_until,
)

SENDER = {"from": "+46700000000"}


async def test_smsc_disconnects_mid_load_lose_nothing(platform_factory: Any, http: httpx.AsyncClient) -> None:
    recipients = numbers(500)
    window = 64
    async with platform_factory(connection={"throughput": 400, "window": window}) as platform:
        sandbox = platform.sandbox
        await asyncio.gather(*(
            platform.send(http, to=recipients[i:i + 100], body="load", **SENDER)
            for i in range(0, len(recipients), 100)
        ))
        drops = 0
        for threshold in (120, 300):
            await wait_until(lambda t=threshold: _received_at_least(sandbox, recipients, t), 20.0,
                             f"{threshold} messages on handsets")
            # The SMSC hands over what it accepted before a cut after its latency: the second
            # threshold can be reached before the connector has bound again. Cut a bound session.
            await wait_until(_bound(sandbox), 20.0, "an SMPP session bound")
            drops += drop_smpp_sessions(sandbox)
        assert drops >= 2, "no SMPP session was open to drop"

        await wait_all_status(platform.ctx.db, len(recipients), timeout=30.0)
        received = inbox_counts(sandbox, recipients)
        missing = [n for n in recipients if received[n] == 0]
        assert not missing, f"{len(missing)} handsets never got their message: {missing[:5]}"
        duplicates = sum(received.values()) - len(recipients)
        retried = await retried_deliveries(platform.ctx.db)
        print(f"[{platform.profile}] SMSC disconnects: {drops} sessions cut, {retried} deliveries "
              f"retried, {duplicates} duplicates")
        assert retried > 0, "the cuts came after the load: nothing was retried"
        # Only a submit whose response was lost with the connection may be sent again: at most
        # one window per cut.
        assert duplicates <= drops * window
        assert all(m.body == "load" for n in recipients for m in sandbox.messages_for(n))


def _bound(sandbox: Any) -> Any:
    async def bound() -> bool:
        return bound_sessions(sandbox) > 0

    return bound


async def _received_at_least(sandbox: Any, recipients: list[str], count: int) -> bool:
    return sum(inbox_counts(sandbox, recipients).values()) >= count


async def test_receipt_before_submission_is_recorded_is_matched(platform: Platform, http: httpx.AsyncClient) -> None:
    """The SMSC's receipt can beat the submit_sm_resp's outcome to the database: the receipt is
    kept as an orphan and matched when the submission is recorded."""
    original = platform.sandbox.smsc.handle_submit_sm
    held = asyncio.Event()

    async def receipt_first(session: Any, pdu: Any) -> tuple[int, str]:
        status, message_id = await original(session, pdu)
        # Let the receipt (latency 0) reach the ESME and be stored before the response goes out.
        await wait_until(lambda: _orphans(platform, 1), 5.0, "the receipt stored as an orphan")
        held.set()
        return status, message_id

    platform.sandbox.smsc.handle_submit_sm = receipt_first
    server = platform.sandbox._server  # noqa: SLF001 - the hooks are looked up once, at construction
    server._handle_submit_sm = receipt_first  # noqa: SLF001
    server._submit_sm_now = None  # noqa: SLF001 - the twin answers in place; this answer must wait
    batch = await platform.send(http, to=["+46701234511"], body="orphan first", **SENDER)
    await asyncio.wait_for(held.wait(), 10.0)
    await wait_all_status(platform.ctx.db, 1)
    report = await http.get(platform.xms(f"/batches/{batch['id']}/delivery_report/+46701234511"),
                            headers=platform.auth)
    assert report.json()["status"] == "Delivered"
    assert not await _orphans(platform, 1)  # taken when matched


async def _orphans(platform: Platform, at_least: int) -> bool:
    from sqlalchemy import func, select

    from tidings.store.schema import orphan_receipts

    async with platform.ctx.db.read() as conn:
        count = (await conn.execute(select(func.count()).select_from(orphan_receipts))).scalar_one()
    return bool(count >= at_least)


async def test_duplicate_and_contradicting_receipts_do_not_move_delivered_back(
    platform: Platform, http: httpx.AsyncClient
) -> None:
    """The carrier loses the receipt; we then replay receipts by hand: DELIVRD moves the
    recipient to Delivered, a second DELIVRD and a late UNDELIV change nothing."""
    from tidings.smpp.receipt import DeliveryReceipt, ReceiptStat, receipt_pdu

    number = "+46701234512"
    platform.sandbox.set_rule(number, receipt_loss_rate=1.0)
    batch = await platform.send(http, to=[number], body="once", **SENDER)
    await wait_all_status(platform.ctx.db, 1, status=Status.DISPATCHED.value)
    message_id = (await platform.sandbox.wait_for_messages(number, 1))[0].message_id
    outbox = platform.sandbox.smsc.outboxes["tidings"]

    def receipt(stat: str, error: int) -> Any:
        now = datetime.now(UTC).replace(tzinfo=None)
        return receipt_pdu(
            DeliveryReceipt(message_id=message_id, stat=stat, submitted=1,
                            delivered=1 if stat == ReceiptStat.DELIVRD else 0, submit_date=now,
                            done_date=now, error=f"{error:03d}",
                            network_error=None if error == 0 else (3, error), text="once"),
            source_addr=number[1:], source_addr_ton=1, source_addr_npi=1,
            destination_addr="46700000000", dest_addr_ton=1, dest_addr_npi=1,
        )

    outbox.put(receipt(ReceiptStat.DELIVRD, 0))
    await wait_all_status(platform.ctx.db, 1)
    answered = outbox.delivered
    outbox.put(receipt(ReceiptStat.DELIVRD, 0))
    outbox.put(receipt(ReceiptStat.UNDELIV, 27))
    await wait_until(lambda: _outbox_sent(outbox, answered + 2), 5.0, "both receipts answered")
    assert await status_counts(platform.ctx.db) == {Status.DELIVERED.value: 1}
    report = await http.get(platform.xms(f"/batches/{batch['id']}/delivery_report/{number}"),
                            headers=platform.auth)
    assert (report.json()["status"], report.json()["code"]) == ("Delivered", 0)


async def _outbox_sent(outbox: Any, count: int) -> bool:
    return bool(outbox.delivered >= count)
