"""XMS groups through the official Sinch SDK 2.3.0 (`client.sms.groups`), in both auth modes, on
SQLite and PostgreSQL: every call, what it stored, and what another project sees."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sinch.domains.sms.api.v1.exceptions import SmsException
from sinch.domains.sms.models.v1.response.group_response import GroupResponse
from sqlalchemy import select

from tidings.api.testing import ApiServer, sdk_client
from tidings.store.groups_schema import group_members, groups

AUTO = {"to": "+46700001001", "add": {"first_word": "JOIN"}, "remove": {"first_word": "LEAVE", "second_word": "NOW"}}


async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def stored_members(api: ApiServer, group_id: str) -> list[str]:
    async with api.ctx.db.read() as conn:
        rows = await conn.execute(select(group_members.c.number).where(group_members.c.group_id == group_id)
                                  .order_by(group_members.c.number))
        return [row[0] for row in rows]


async def test_create_get_and_members(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    client = sdk_client(auth_mode, api.base_url, creds)
    created = await call(client.sms.groups.create, name="Pet owners",
                         members=["+46700000002", "46700000001", "0046700000002"], auto_update=AUTO)
    assert isinstance(created, GroupResponse)
    assert len(created.id) == 26
    assert created.name == "Pet owners"
    assert created.size == 2  # normalised, the repeat ignored
    assert created.created_at is not None and created.created_at.tzinfo is not None
    assert created.modified_at == created.created_at
    assert created.child_groups is None
    assert created.auto_update is not None
    assert created.auto_update.to == "+46700001001"
    assert (created.auto_update.add.first_word, created.auto_update.add.second_word) == ("JOIN", None)
    assert (created.auto_update.remove.first_word, created.auto_update.remove.second_word) == ("LEAVE", "NOW")

    got = await call(client.sms.groups.get, created.id)
    assert got == created
    members = await call(client.sms.groups.list_members, created.id)
    assert members.content() == ["+46700000001", "+46700000002"]
    assert members.has_next_page is False
    assert await stored_members(api, created.id) == ["+46700000001", "+46700000002"]

    empty = await call(client.sms.groups.create)  # no name, no members: an empty group
    assert empty.name is None and empty.size == 0 and empty.auto_update is None
    assert (await call(client.sms.groups.list_members, empty.id)).content() == []


async def test_list_is_paged_newest_first(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    client = sdk_client(auth_mode, api.base_url, creds)
    ids = []
    for i in range(5):
        ids.append((await call(client.sms.groups.create, name=f"g{i}", members=[f"+4670000000{i}"])).id)
        api.clock.advance(0.01)
    await call(sdk_client(auth_mode, api.base_url, await api.project("other")).sms.groups.create, name="theirs")

    pager = await call(client.sms.groups.list, page_size=2)
    assert (pager.result.count, pager.result.page, pager.result.page_size) == (5, 0, 2)
    seen = await call(lambda: [(g.id, g.name, g.size) for g in pager.iterator()])
    assert seen == [(ids[i], f"g{i}", 1) for i in reversed(range(5))]  # across three pages
    second = await call(client.sms.groups.list, page=1, page_size=2)
    assert [g.id for g in second.content()] == [ids[2], ids[1]]
    everything = await call(client.sms.groups.list)
    assert everything.result.count == 5 and len(everything.content()) == 5


async def test_update_adds_before_removing_and_copies_groups(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    client = sdk_client(auth_mode, api.base_url, creds)
    group = await call(client.sms.groups.create, name="Main", members=["+46700000001", "+46700000002"])
    other = await call(client.sms.groups.create, name="Other", members=["+46700000007", "+46700000008"])
    api.clock.advance(0.01)

    updated = await call(client.sms.groups.update, group.id, name="Renamed",
                         add=["+46700000003", "46700000001", "+46700000004"], remove=["+46700000004", "+46700000009"])
    # A repeat add is ignored, an unknown remove too; a number in both lists ends outside.
    assert await stored_members(api, group.id) == ["+46700000001", "+46700000002", "+46700000003"]
    assert (updated.name, updated.size) == ("Renamed", 3)
    assert updated.modified_at > updated.created_at

    copied = await call(client.sms.groups.update, group.id, name="Renamed", add_from_group=other.id)
    assert copied.size == 5
    taken = await call(client.sms.groups.update, group.id, name="Renamed", remove_from_group=other.id,
                       remove=["+46700000001"])
    assert await stored_members(api, group.id) == ["+46700000002", "+46700000003"]
    assert taken.size == 2
    assert (await call(client.sms.groups.get, other.id)).size == 2  # the source is unchanged

    # auto_update: set, then only its remove keywords changed (the rest kept).
    with_auto = await call(client.sms.groups.update, group.id, name="Renamed", auto_update=AUTO)
    assert with_auto.auto_update.to == "+46700001001"
    changed = await call(client.sms.groups.update, group.id, name="Renamed",
                         auto_update={"to": "+46700001002", "remove": {"first_word": "STOP"}})
    assert changed.auto_update.to == "+46700001002"
    assert changed.auto_update.add.first_word == "JOIN"
    assert (changed.auto_update.remove.first_word, changed.auto_update.remove.second_word) == ("STOP", None)

    # The SDK sends `name: null` when update is not given a name: XMS removes the name then.
    nameless = await call(client.sms.groups.update, group.id, add=["+46700000005"])
    assert nameless.name is None and nameless.size == 3
    assert nameless.auto_update is not None  # a null auto_update changes nothing


async def test_replace_changes_everything(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    client = sdk_client(auth_mode, api.base_url, creds)
    child = await call(client.sms.groups.create, name="Child", members=["+46700000009"])
    group = await call(client.sms.groups.create, name="Old", members=["+46700000001", "+46700000002"],
                       auto_update=AUTO)
    replaced = await call(client.sms.groups.replace, group.id, name="New", members=["+46700000003"],
                          child_groups=[child.id])
    assert (replaced.id, replaced.name, replaced.size) == (group.id, "New", 1)
    assert replaced.child_groups == [child.id]
    assert replaced.auto_update is None  # left out: gone
    assert replaced.created_at == group.created_at
    assert await stored_members(api, group.id) == ["+46700000003"]
    cleared = await call(client.sms.groups.replace, group.id)
    assert (cleared.name, cleared.size, cleared.child_groups, cleared.auto_update) == (None, 0, None, None)


async def test_delete_removes_the_group_its_members_and_child_links(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    client = sdk_client(auth_mode, api.base_url, creds)
    child = await call(client.sms.groups.create, name="Child", members=["+46700000009"])
    parent = await call(client.sms.groups.create, name="Parent", child_groups=[child.id])
    assert await call(client.sms.groups.delete, child.id) is None
    with pytest.raises(SmsException) as err:
        await call(client.sms.groups.get, child.id)
    assert err.value.response_status_code == 404
    assert await stored_members(api, child.id) == []
    assert (await call(client.sms.groups.get, parent.id)).child_groups is None
    async with api.ctx.db.read() as conn:
        assert [row.id for row in await conn.execute(select(groups.c.id))] == [parent.id]
    with pytest.raises(SmsException) as err:
        await call(client.sms.groups.delete, child.id)
    assert err.value.response_status_code == 404


async def test_another_projects_group_is_not_found(api: ApiServer, auth_mode: str) -> None:
    owner, other = await api.project("owner"), await api.project("other")
    mine = await call(sdk_client(auth_mode, api.base_url, owner).sms.groups.create, name="Mine",
                      members=["+46700000001"])
    client = sdk_client(auth_mode, api.base_url, other)
    for method, kwargs in (
        (client.sms.groups.get, {}),
        (client.sms.groups.list_members, {}),
        (client.sms.groups.update, {"add": ["+46700000002"]}),
        (client.sms.groups.replace, {"name": "Taken"}),
        (client.sms.groups.delete, {}),
    ):
        with pytest.raises(SmsException) as err:
            await call(method, mine.id, **kwargs)
        assert err.value.response_status_code == 404
        assert err.value.http_response.body["code"] == "not_found"
    assert (await call(client.sms.groups.list)).result.count == 0
    # Named in a body, it is no group at all: XMS's 403 unknown_group.
    with pytest.raises(SmsException) as err:
        await call(client.sms.groups.create, name="Copy", child_groups=[mine.id])
    assert err.value.response_status_code == 403
    assert err.value.http_response.body == {"code": "unknown_group", "text": f"child_groups[0]: no group {mine.id}"}
    own = await call(client.sms.groups.create, name="Own")
    with pytest.raises(SmsException) as err:
        await call(client.sms.groups.update, own.id, add_from_group=mine.id)
    assert err.value.response_status_code == 403
    still = await call(sdk_client(auth_mode, api.base_url, owner).sms.groups.get, mine.id)
    assert (still.name, still.size) == ("Mine", 1)
    assert await stored_members(api, mine.id) == ["+46700000001"]
