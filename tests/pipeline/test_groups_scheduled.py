"""Scheduled batches to groups end to end, in both profiles: the batch reaches the members its
groups have at `send_at` (one added after the batch was accepted gets the SMS on its handset, one
removed or taken out with `to_remove` does not), also when the process restarted in between; a
cancel before `send_at` sends nothing; an `expire_at` that passed while no sweeper ran expires the
members without sending. The send and the update go through the official SDK."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from typing import Any

import httpx

from tidings.api.testing import sdk_client
from tidings.testing.platform import Platform

from .helpers import FROM, handset_messages, recipient_report, wait_handset, wait_status, wait_until
from .test_scheduling import iso_in

A, B, C, D, E = (f"+4670152000{i}" for i in range(1, 6))


async def create_group(platform: Platform, http: httpx.AsyncClient, members: list[str]) -> str:
    response = await http.post(platform.xms("/groups"), json={"members": members}, headers=platform.auth)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def change_group(platform: Platform, http: httpx.AsyncClient, group: str, **change: Any) -> None:
    response = await http.post(platform.xms(f"/groups/{group}"), json=change, headers=platform.auth)
    assert response.status_code == 200, response.text


async def no_report(platform: Platform, http: httpx.AsyncClient, batch_id: str, recipient: str) -> bool:
    response = await http.get(platform.xms(f"/batches/{batch_id}/delivery_report/{recipient}"), headers=platform.auth)
    return response.status_code == 404


def received_ms(message: dict[str, Any]) -> int:
    return int(dt.datetime.fromisoformat(message["received_at"]).timestamp() * 1000)


async def test_the_members_at_send_at_get_it(platform: Platform, http: httpx.AsyncClient) -> None:
    group = await create_group(platform, http, [A, B, E])
    client = sdk_client("service_plan", platform.base_url, platform.creds)
    _, send_at_ms = iso_in(2.0)
    send_at = dt.datetime.fromtimestamp(send_at_ms / 1000, dt.UTC)
    sent = await asyncio.to_thread(client.sms.batches.send_sms, to=[group, C], from_=FROM, body="Doors open",
                                   send_at=send_at)
    assert sent.to == [group, C]

    # After the batch was accepted: D joins the group, B leaves it, E is taken out of the batch.
    await change_group(platform, http, group, add=[D], remove=[B])
    await asyncio.to_thread(client.sms.batches.update_sms, batch_id=sent.id, to_remove=[E])
    # Before send_at the group's members are no recipients yet.
    assert await no_report(platform, http, sent.id, A)
    assert (await recipient_report(platform, http, sent.id, C))["status"] == "Queued"

    for number in (A, C, D):
        [message] = await wait_handset(platform, http, number)
        assert message["body"] == "Doors open"
        assert received_ms(message) >= send_at_ms
        await wait_status(platform, http, sent.id, number, "Delivered")
    await asyncio.sleep(1.0)
    for number in (B, E):
        assert await handset_messages(platform, http, number) == []
        assert await no_report(platform, http, sent.id, number)
    got = await asyncio.to_thread(client.sms.batches.get, batch_id=sent.id)
    assert got.to == [group, C]
    report = await http.get(platform.xms(f"/batches/{sent.id}/delivery_report"), headers=platform.auth)
    assert report.json()["total_message_count"] == 3


async def test_cancel_before_send_at_sends_to_no_member(platform: Platform, http: httpx.AsyncClient) -> None:
    group = await create_group(platform, http, [A])
    send_at, send_at_ms = iso_in(1.5)
    batch = await platform.send(http, to=[group], body="Never", send_at=send_at, **{"from": FROM})
    cancelled = await http.delete(platform.xms(f"/batches/{batch['id']}"), headers=platform.auth)
    assert (cancelled.status_code, cancelled.json()["canceled"]) == (200, True)
    await change_group(platform, http, group, add=[B])

    await asyncio.sleep(max(0.0, send_at_ms / 1000 - time.time()) + 1.0)
    for number in (A, B):
        assert await handset_messages(platform, http, number) == []
        assert await no_report(platform, http, batch["id"], number)
    report = await http.get(platform.xms(f"/batches/{batch['id']}/delivery_report"), headers=platform.auth)
    assert (report.json()["total_message_count"], report.json()["statuses"]) == (0, [])


async def test_a_restart_between_acceptance_and_send_at_still_expands(
    platform_factory: Any, http: httpx.AsyncClient,
) -> None:
    async with platform_factory() as first:
        group = await create_group(first, http, [A])
        send_at, send_at_ms = iso_in(3.0)
        batch = await first.send(http, to=[group], body="After the restart", send_at=send_at, **{"from": FROM})
        creds = first.creds

    async with platform_factory() as second:
        second = dataclasses.replace(second, creds=creds)
        await change_group(second, http, group, add=[B])  # while no process ran, the schedule kept
        for number in (A, B):
            [message] = await second.sandbox.wait_for_messages(number, 1, timeout=10.0)
            assert message.body == "After the restart"
            assert message.received_at_ms >= send_at_ms
            await wait_status(second, http, batch["id"], number, "Delivered")


async def test_expire_at_passing_before_the_expansion_expires_the_members_unsent(
    platform: Platform, http: httpx.AsyncClient,
) -> None:
    group = await create_group(platform, http, [A, B])
    await platform.stop_worker()  # no sweeper runs through send_at and expire_at
    send_at, _ = iso_in(0.5)
    expire_at, expire_at_ms = iso_in(1.0)
    batch = await platform.send(http, to=[group, C], body="Too late", send_at=send_at, expire_at=expire_at,
                                **{"from": FROM})
    await asyncio.sleep(max(0.0, expire_at_ms / 1000 - time.time()) + 0.2)
    await platform.start_worker()

    async def expired() -> bool:
        reports = [await http.get(platform.xms(f"/batches/{batch['id']}/delivery_report/{number}"),
                                  headers=platform.auth) for number in (A, B, C)]
        return all(r.status_code == 200 and (r.json()["status"], r.json()["code"]) == ("Expired", 406)
                   for r in reports)

    await wait_until(expired, "every recipient Expired (406)", timeout=15.0)
    await asyncio.sleep(1.0)
    for number in (A, B, C):
        assert await handset_messages(platform, http, number) == []
