"""Scheduled batches to groups: a batch with `send_at` later is accepted with the deliveries of the
numbers its `to` names itself, and its groups are expanded at `send_at` into the members they have
then (`tidings.actions.scheduled_groups`, run here as the sweeper runs it, with the API's clock
moved on). Update, replace, cancel and reports while it waits; the recipient and parts limits at
the expansion; immediate batches expanded at acceptance as before. SQLite and PostgreSQL; the
official SDK where a client would use it."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from sinch.domains.sms.models.v1.shared.text_response import TextResponse
from sqlalchemy import select

from tidings.actions.scheduled_groups import expand_batch, expand_due
from tidings.api.testing import ApiServer, running_api, sdk_client
from tidings.config import Settings
from tidings.store.db import Database
from tidings.store.schema import batches, deliveries, webhook_outbox

from .test_groups_send import N, Project, project, recipients

HOUR = 3600


async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def iso_in(api: ApiServer, seconds: float) -> str:
    """An XMS date-time `seconds` after the API's clock."""
    at = dt.datetime.fromtimestamp(api.clock() / 1000 + seconds, dt.UTC)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def batch_row(api: ApiServer, batch_id: str) -> Any:
    async with api.ctx.db.read() as conn:
        return (await conn.execute(select(batches).where(batches.c.id == batch_id))).one()


async def statuses(api: ApiServer, batch_id: str) -> list[tuple[str, str, int]]:
    async with api.ctx.db.read() as conn:
        rows = await conn.execute(select(deliveries.c.recipient, deliveries.c.status, deliveries.c.code)
                                  .where(deliveries.c.batch_id == batch_id).order_by(deliveries.c.id))
        return [(r[0], r[1], r[2]) for r in rows]


async def test_immediate_group_sends_are_expanded_at_acceptance(api: ApiServer, http: httpx.AsyncClient) -> None:
    p = await project(api, http)
    group = await p.group(members=[N[1], N[2]])
    for extra in ({}, {"send_at": iso_in(api, -60)}):  # no send_at, or one already past
        sent = await p.send(to=[group, N[3]], **extra)
        assert await recipients(api, sent["id"]) == [N[1], N[2], N[3]]
        row = await batch_row(api, sent["id"])
        assert (row.expand_groups_ms, row.excluded_recipients, row.recipient_count) == (None, None, 3)
    assert await api.dispatch.backlog() == 6
    # An empty group as the only recipients is refused at once, as before.
    empty = await p.group(name="Empty")
    r = await p.post("/batches", {"from": "Shop", "body": "x", "to": [empty]})
    assert (r.status_code, r.json()["text"]) == (400, "to: the groups named have no members")
    api.clock.advance(2 * HOUR)
    assert await expand_due(api.ctx) == []


async def test_scheduled_send_reaches_the_members_the_groups_have_at_send_at(
    api: ApiServer, auth_mode: str, http: httpx.AsyncClient,
) -> None:
    creds = await api.project()
    client = sdk_client(auth_mode, api.base_url, creds)
    p = Project(api, http, creds.service_plan_id, creds.api_token)
    pets = await call(client.sms.groups.create, name="Pets", members=[N[1], N[2]])
    send_at = dt.datetime.fromtimestamp(api.clock() / 1000 + HOUR, dt.UTC)
    sent = await call(client.sms.batches.send_sms, to=[pets.id, N[3]], from_="Shop", body="Sale", send_at=send_at,
                      delivery_report="summary")
    assert isinstance(sent, TextResponse) and sent.to == [pets.id, N[3]]
    # Until send_at the batch holds its own number; the group's members come then.
    assert await recipients(api, sent.id) == [N[3]]
    row = await batch_row(api, sent.id)
    assert (row.expand_groups_ms, row.recipient_count) == (int(send_at.timestamp() * 1000), 1)
    got = await call(client.sms.batches.get, batch_id=sent.id)
    assert isinstance(got, TextResponse) and got.to == [pets.id, N[3]]
    report = await p.get(f"/batches/{sent.id}/delivery_report?type=full")
    assert (report["total_message_count"], report["statuses"]) == (
        1, [{"code": 400, "count": 1, "recipients": [N[3]], "status": "Queued"}])
    r = await http.get(f"{p.url}/batches/{sent.id}/delivery_report/{N[1]}", headers=p.headers)
    assert r.status_code == 404

    # The group changes after the batch was accepted.
    await call(client.sms.groups.update, group_id=pets.id, add=[N[4]], remove=[N[2]])
    api.clock.advance(HOUR - 1)
    assert await expand_due(api.ctx) == []  # not yet
    assert await recipients(api, sent.id) == [N[3]]

    api.clock.advance(1)
    [done] = await expand_due(api.ctx)
    assert (done.batch_id, done.queued, done.settled, done.left_out) == (sent.id, 2, (), 0)
    assert await recipients(api, sent.id) == [N[3], N[1], N[4]]
    row = await batch_row(api, sent.id)
    assert (row.expand_groups_ms, row.recipient_count) == (None, 3)
    async with api.ctx.db.read() as conn:
        members = list(await conn.execute(select(deliveries).where(deliveries.c.batch_id == sent.id,
                                                                   deliveries.c.recipient.in_([N[1], N[4]]))))
    # Due now and left for the sweeper's publish_due to queue.
    assert {(m.status, m.published_ms, m.due_ms <= api.clock()) for m in members} == {("Queued", None, True)}
    report = await p.get(f"/batches/{sent.id}/delivery_report")
    assert report["total_message_count"] == 3
    assert (await call(client.sms.batches.get, batch_id=sent.id)).to == [pets.id, N[3]]
    # Done once: again, here or by another sweeper, finds nothing.
    assert await expand_due(api.ctx) == []
    assert await expand_batch(api.ctx, sent.id) is None
    assert await recipients(api, sent.id) == [N[3], N[1], N[4]]


async def test_update_while_waiting_excludes_removed_members_and_follows_send_at(
    api: ApiServer, auth_mode: str, http: httpx.AsyncClient,
) -> None:
    creds = await api.project()
    client = sdk_client(auth_mode, api.base_url, creds)
    p = Project(api, http, creds.service_plan_id, creds.api_token)
    group = await p.group(members=[N[1], N[2], N[3]])
    sent = await p.send(to=[group], send_at=iso_in(api, HOUR))
    assert await recipients(api, sent["id"]) == []

    # to_remove of numbers that will come from the group: they stay out of the expansion; a
    # batch waiting for its groups may have no number of its own.
    await call(client.sms.batches.update_sms, batch_id=sent["id"], to_remove=[N[2], N[3]])
    await call(client.sms.batches.update_sms, batch_id=sent["id"], to_add=[N[3], N[5]])
    assert await recipients(api, sent["id"]) == [N[3], N[5]]
    assert (await batch_row(api, sent["id"])).excluded_recipients == [N[2]]
    assert (await p.get(f"/batches/{sent['id']}"))["to"] == [group, N[3], N[5]]
    # Removing every number of its own is allowed while its groups wait.
    r = await p.post(f"/batches/{sent['id']}", {"to_remove": [N[5]]})
    assert r.status_code == 200, r.text

    # A later send_at moves the expansion with it.
    later = dt.datetime.fromtimestamp(api.clock() / 1000 + 2 * HOUR, dt.UTC)
    await call(client.sms.batches.update_sms, batch_id=sent["id"], send_at=later)
    assert (await batch_row(api, sent["id"])).expand_groups_ms == int(later.timestamp() * 1000)
    api.clock.advance(HOUR + 60)
    assert await expand_due(api.ctx) == []
    api.clock.advance(HOUR)
    [done] = await expand_due(api.ctx)
    assert done.queued == 1
    assert await recipients(api, sent["id"]) == [N[3], N[1]]


async def test_replace_sets_or_clears_the_wait_and_cancel_ends_it(api: ApiServer, http: httpx.AsyncClient) -> None:
    p = await project(api, http)
    group = await p.group(members=[N[1], N[2]])
    scheduled = {"from": "Shop", "body": "Later", "send_at": iso_in(api, HOUR)}
    sent = await p.send(to=[N[0]], **scheduled)
    assert (await batch_row(api, sent["id"])).expand_groups_ms is None

    r = await http.put(f"{p.url}/batches/{sent['id']}", headers=p.headers, json={"to": [group], **scheduled})
    assert (r.status_code, r.json()["to"]) == (200, [group])
    assert await recipients(api, sent["id"]) == []
    assert (await batch_row(api, sent["id"])).expand_groups_ms is not None
    await p.post(f"/batches/{sent['id']}", {"to_remove": [N[1]]})

    # Replaced with a send due now: expanded at once, as any immediate send; nothing waits.
    r = await http.put(f"{p.url}/batches/{sent['id']}", headers=p.headers,
                       json={"to": [group], "from": "Shop", "body": "Now"})
    assert r.status_code == 200, r.text
    assert await recipients(api, sent["id"]) == [N[1], N[2]]
    row = await batch_row(api, sent["id"])
    assert (row.expand_groups_ms, row.excluded_recipients) == (None, None)

    # Cancel before send_at: the explicit numbers Cancelled, the groups never expanded.
    waiting = await p.send(to=[group, N[3]], **scheduled)
    r = await http.delete(f"{p.url}/batches/{waiting['id']}", headers=p.headers)
    assert (r.status_code, r.json()["canceled"], r.json()["to"]) == (200, True, [group, N[3]])
    assert (await batch_row(api, waiting["id"])).expand_groups_ms is None
    api.clock.advance(2 * HOUR)
    assert await expand_due(api.ctx) == []
    assert await expand_batch(api.ctx, waiting["id"]) is None
    assert await statuses(api, waiting["id"]) == [(N[3], "Cancelled", 407)]


@pytest.fixture
async def small_api(any_db: Database) -> AsyncIterator[ApiServer]:
    async with running_api(any_db, settings=Settings(max_recipients=3)) as server:
        yield server


async def test_recipient_and_parts_limits_at_the_expansion(
    small_api: ApiServer, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture,
) -> None:
    api = small_api
    p = await project(api, http)
    first = await p.group(members=[N[1], N[2]])
    second = await p.group(members=[N[3], N[4]])
    long_name = "Bartholomew ☃ " * 6  # UCS-2, "Hi " and 84 characters: two parts, where one is allowed
    sent = await p.send(to=[first, second, N[0]], body="Hi ${name}", send_at=iso_in(api, HOUR),
                        parameters={"name": {N[2]: long_name, "default": "you"}}, max_number_of_message_parts=1,
                        delivery_report="per_recipient", callback_url="https://example.com/cb")
    assert await recipients(api, sent["id"]) == [N[0]]
    api.clock.advance(HOUR)
    with caplog.at_level(logging.WARNING, logger="tidings.actions.scheduled_groups"):
        [done] = await expand_due(api.ctx)
    # Room for two more recipients: the first group's members; the second's are left out.
    assert (done.queued, done.left_out) == (1, 2)
    assert any("2 members of its groups left out" in r.getMessage() for r in caplog.records)
    assert await statuses(api, sent["id"]) == [(N[0], "Queued", 400), (N[1], "Queued", 400), (N[2], "Aborted", 411)]
    assert (await batch_row(api, sent["id"])).recipient_count == 3
    async with api.ctx.db.read() as conn:
        bodies = [orjson.loads(r[0]) for r in await conn.execute(select(webhook_outbox.c.body))]
    assert [(b["recipient"], b["status"], b["code"]) for b in bodies] == [(N[2], "Aborted", 411)]


async def test_expire_at_passed_before_the_expansion_expires_the_members(
    api: ApiServer, http: httpx.AsyncClient,
) -> None:
    p = await project(api, http)
    group = await p.group(members=[N[1], N[2]])
    sent = await p.send(to=[group], send_at=iso_in(api, 60), expire_at=iso_in(api, 120))
    api.clock.advance(600)  # no sweeper ran between send_at and expire_at
    [done] = await expand_due(api.ctx)
    assert done.queued == 0
    expired = [(N[1], "Expired", 406), (N[2], "Expired", 406)]
    assert [(t.recipient, t.new.value, t.code) for t in done.settled] == expired
    assert await statuses(api, sent["id"]) == expired
    report = await p.get(f"/batches/{sent['id']}/delivery_report/{N[1]}")
    assert (report["status"], report["code"]) == ("Expired", 406)
