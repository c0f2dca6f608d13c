"""Groups' auto_update, applied by the outcome writer in the transaction that stores the MO, in
both profiles: the sender of an MO to the group's number joins on the add keywords and leaves on
the remove keywords, once per MO (an MO the SMSC delivers again changes nothing), only in the
project the MO reached, only into a group with room."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import insert, select

from tidings.actions.groups import do_create_group
from tidings.actions.projects import ProjectCredentials, do_create_project
from tidings.config import Settings
from tidings.queue.local import LocalDispatchQueue
from tidings.runtime.context import Context
from tidings.store.db import Database
from tidings.store.group_commit import GroupCommitter
from tidings.store.groups_schema import group_members, groups
from tidings.store.schema import inbounds, numbers
from tidings.workers.events import MobileOriginated
from tidings.workers.writer import OutcomeWriter

NOW = 1_800_000_000_000
OURS, SHORT = "+46700001001", "72345"
ANN, BO = "+46701310001", "+46701310002"
AUTO = {"to": OURS, "add": {"first_word": "JOIN"}, "remove": {"first_word": "LEAVE"}}


class Clock:
    def __init__(self) -> None:
        self.ms = NOW

    def __call__(self) -> int:
        self.ms += 1
        return self.ms


@pytest.fixture
async def ctx(any_db: Database) -> AsyncIterator[Context]:
    committer = GroupCommitter(any_db)
    committer.start()
    yield Context(Settings(), any_db, committer, LocalDispatchQueue(), Clock())
    await committer.aclose()


@pytest.fixture
async def writer(ctx: Context) -> AsyncIterator[OutcomeWriter]:
    w = OutcomeWriter(ctx.db, ctx.clock, max_group_members=3)
    w.start()
    yield w
    await w.aclose()


async def owning(ctx: Context, name: str, *owned: str) -> ProjectCredentials:
    """A project that owns these numbers (MO to them is routed to it)."""
    creds = await do_create_project(ctx.db, name, ctx.clock())
    async with ctx.db.write() as conn:
        for number in owned:
            await conn.execute(insert(numbers).values(number=number, project_id=creds.project_id,
                                                      service_plan_id=creds.service_plan_id))
    return creds


async def members(ctx: Context, group_id: str) -> list[str]:
    async with ctx.db.read() as conn:
        rows = await conn.execute(select(group_members.c.number).where(group_members.c.group_id == group_id)
                                  .order_by(group_members.c.number))
        return [row[0] for row in rows]


counter = iter(range(1, 1_000_000))


def mo(sender: str, body: str, to: str = OURS, smsc_id: str | None = None) -> MobileOriginated:
    return MobileOriginated("sandbox", smsc_id or f"mo-{next(counter)}", sender, to, body, NOW)


async def test_join_and_leave_once_per_mo(ctx: Context, writer: OutcomeWriter) -> None:
    creds = await owning(ctx, "shop", OURS)
    group = await do_create_group(ctx, creds.project_id, {"name": "Pets", "members": [BO], "auto_update": AUTO})
    await writer.apply([mo(ANN, "join")])
    assert await members(ctx, group.id) == [ANN, BO]
    async with ctx.db.read() as conn:
        modified = (await conn.execute(select(groups.c.modified_ms).where(groups.c.id == group.id))).scalar_one()
    assert modified > group.modified_ms

    await writer.apply([mo(ANN, "Join!", smsc_id="again")])  # already a member: nothing changes
    await writer.apply([mo(ANN, "LEAVE now please", smsc_id="leave-1")])
    assert await members(ctx, group.id) == [BO]
    # The SMSC delivers the JOIN again (same message id): it was stored once, and it joins no more.
    await writer.apply([mo(ANN, "Join!", smsc_id="again")])
    assert await members(ctx, group.id) == [BO]
    async with ctx.db.read() as conn:
        stored = list((await conn.execute(select(inbounds.c.body).order_by(inbounds.c.id))).scalars())
    assert stored == ["join", "Join!", "LEAVE now please"]

    # Other words, another number, and one flush with both keywords in order.
    await writer.apply([mo(ANN, "joined"), mo(ANN, "please join"), mo(ANN, "JOIN", to="+46700001009")])
    assert await members(ctx, group.id) == [BO]
    await writer.apply([mo(ANN, "JOIN"), mo(BO, "leave"), mo(ANN, "leave"), mo(ANN, "join")])
    assert await members(ctx, group.id) == [ANN]


async def test_second_word_short_code_and_several_groups(ctx: Context, writer: OutcomeWriter) -> None:
    creds = await owning(ctx, "shop", OURS, SHORT)
    shared = await do_create_group(ctx, creds.project_id, {"auto_update": {
        "to": SHORT, "add": {"first_word": "Tidings", "second_word": "join"},
        "remove": {"first_word": "Tidings", "second_word": "stop"}}})
    first = await do_create_group(ctx, creds.project_id, {"auto_update": AUTO})
    second = await do_create_group(ctx, creds.project_id, {"auto_update": {**AUTO, "remove": {"first_word": "STOP"}}})
    adds_only = await do_create_group(ctx, creds.project_id,
                                      {"auto_update": {"to": OURS, "add": {"first_word": "JOIN"}}})

    await writer.apply([mo(ANN, "tidings JOIN", to=SHORT), mo(BO, "Tidings", to=SHORT), mo(BO, "join", to=SHORT)])
    assert await members(ctx, shared.id) == [ANN]
    await writer.apply([mo(ANN, "TIDINGS stop", to=SHORT)])
    assert await members(ctx, shared.id) == []

    # One MO changes every group with that number whose keywords it matches.
    await writer.apply([mo(ANN, "join")])
    assert [await members(ctx, g.id) for g in (first, second, adds_only)] == [[ANN], [ANN], [ANN]]
    await writer.apply([mo(ANN, "stop")])
    assert [await members(ctx, g.id) for g in (first, second, adds_only)] == [[ANN], [], [ANN]]


async def test_only_the_project_the_mo_reaches(ctx: Context, writer: OutcomeWriter) -> None:
    ours = await owning(ctx, "ours", OURS)
    theirs = await owning(ctx, "theirs", "+46700001002")
    mine = await do_create_group(ctx, ours.project_id, {"auto_update": AUTO})
    # Another project names our number in its auto_update: MO to it is not theirs.
    foreign = await do_create_group(ctx, theirs.project_id, {"auto_update": AUTO})
    await writer.apply([mo(ANN, "join")])
    assert (await members(ctx, mine.id), await members(ctx, foreign.id)) == ([ANN], [])
    # A number no project owns or sent from: stored unrouted, no group changes.
    await do_create_group(ctx, ours.project_id, {"auto_update": {**AUTO, "to": "+46700001003"}})
    await writer.apply([mo(BO, "join", to="+46700001003")])
    async with ctx.db.read() as conn:
        assert (await conn.execute(select(group_members.c.number).where(group_members.c.number == BO))).first() is None


async def test_full_groups_and_senders_that_are_not_numbers(ctx: Context, writer: OutcomeWriter) -> None:
    creds = await owning(ctx, "shop", OURS)
    group = await do_create_group(ctx, creds.project_id, {"members": [BO, "+46701310003"], "auto_update": AUTO})
    await writer.apply([mo("Shop", "join"), mo("0701310009", "join")])
    assert await members(ctx, group.id) == [BO, "+46701310003"]
    await writer.apply([mo(ANN, "join")])  # the third member: the writer's limit is 3
    await writer.apply([mo("+46701310004", "join")])  # full: ignored
    assert await members(ctx, group.id) == [ANN, BO, "+46701310003"]
    await writer.apply([mo(BO, "leave"), mo("+46701310004", "join")])
    assert await members(ctx, group.id) == [ANN, "+46701310003", "+46701310004"]
