"""XMS groups of recipients: create, replace, update, delete, read; and a send's `to` naming
groups, expanded into their members (`expand_groups`: the dry run), or, for a send scheduled
for later, checked and left to be expanded at its `send_at` (`resolve_groups`, which `do_send`
and `do_replace` call only when a `to` is not all phone numbers; `tidings.actions.scheduled_groups`).

A group holds at most `Settings.max_recipients` numbers of its own (a batch's recipient limit:
a group bigger than a batch may have could never be sent to). Its child groups' members are not
copied into it; a send to it reaches them too, as they are then (`tidings.store.groups.expand`).
Another project's group is a 404 where it is addressed, and XMS's 403 `unknown_group` ("no
group") in a body that names it (`unknown_group`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.actions.batch_checks import (
    check_datetime,
    check_msisdn,
    invalid,
    validate_numbers_in_slices,
)
from tidings.actions.group_checks import GroupFields, check_group, check_group_update
from tidings.core.errors import NotFound, RequestError
from tidings.core.groups import AutoUpdate, is_group_id
from tidings.core.ids import ulid
from tidings.runtime.context import Context
from tidings.store import groups as gq

__all__ = [
    "Group",
    "GroupSend",
    "do_create_group",
    "do_delete_group",
    "do_replace_group",
    "do_update_group",
    "expand_groups",
    "get_group",
    "group_members",
    "list_groups",
    "resolve_groups",
    "unknown_group",
]


@dataclass(frozen=True)
class Group:
    """A group as the API shows it; `size` counts its own members."""

    id: str
    name: str | None
    size: int
    created_ms: int
    modified_ms: int
    child_groups: tuple[str, ...]
    auto_update: AutoUpdate | None


def group_from_row(row: Row[Any], size: int) -> Group:
    return Group(row.id, row.name, size, row.created_ms, row.modified_ms, tuple(row.child_groups or ()),
                 gq.auto_update_of(row))


def _auto_update_columns(auto: AutoUpdate | None) -> dict[str, Any]:
    return {
        "auto_to": auto.to if auto else None,
        "add_first_word": auto.add.first_word if auto and auto.add else None,
        "add_second_word": auto.add.second_word if auto and auto.add else None,
        "remove_first_word": auto.remove.first_word if auto and auto.remove else None,
        "remove_second_word": auto.remove.second_word if auto and auto.remove else None,
    }


def unknown_group(field_name: str, group_id: str) -> RequestError:
    """XMS's 403 `unknown_group`: a group id in a body that is no group of the project (never
    was, deleted, or another project's)."""
    text = f"no group {group_id}"
    return RequestError("unknown_group", f"{field_name}: {text}", 403, {field_name: text})


async def _load(conn: AsyncConnection, project_id: str, group_id: str, *, lock: bool = False) -> Row[Any]:
    row = await gq.get(conn, project_id, group_id, for_update=lock)
    if row is None:
        raise NotFound(f"Group {group_id} not found")
    return row


async def _check_groups_exist(conn: AsyncConnection, project_id: str, named: Sequence[tuple[str, str]]) -> None:
    """(field, group id) pairs: each must be a group of the project."""
    found = await gq.existing(conn, project_id, [group_id for _, group_id in named])
    for field_name, group_id in named:
        if group_id not in found:
            raise unknown_group(field_name, group_id)


async def _reread(conn: AsyncConnection, project_id: str, group_id: str) -> Group:
    row = await _load(conn, project_id, group_id)
    return group_from_row(row, await gq.count_members(conn, group_id))


async def _check_size(conn: AsyncConnection, group_id: str, field_name: str, max_members: int) -> None:
    if await gq.count_members(conn, group_id) > max_members:
        raise invalid(field_name, f"a group has at most {max_members} members")


async def do_create_group(ctx: Context, project_id: str, payload: object) -> Group:
    await validate_numbers_in_slices(payload, "members")
    fields = check_group(payload, ctx.settings.max_recipients)
    now = ctx.clock()
    group_id = ulid()
    async with ctx.db.write() as conn:
        await _check_groups_exist(conn, project_id, _child_fields(fields))
        await gq.insert_group(conn, {
            "id": group_id, "project_id": project_id, "name": fields.name,
            "child_groups": list(fields.child_groups), **_auto_update_columns(fields.auto_update),
            "created_ms": now, "modified_ms": now,
        }, fields.members)
    return Group(group_id, fields.name, len(fields.members), now, now, fields.child_groups, fields.auto_update)


def _child_fields(fields: GroupFields) -> list[tuple[str, str]]:
    return [(f"child_groups[{i}]", child) for i, child in enumerate(fields.child_groups)]


async def get_group(ctx: Context, project_id: str, group_id: str) -> Group:
    async with ctx.db.read() as conn:
        return await _reread(conn, project_id, group_id)


async def list_groups(ctx: Context, project_id: str, page: int, page_size: int) -> tuple[int, list[Group]]:
    """(the project's number of groups, this page of them), newest first."""
    async with ctx.db.read() as conn:
        count, rows = await gq.list_page(conn, project_id, page, page_size)
        sizes = await gq.sizes(conn, [row.id for row in rows])
    return count, [group_from_row(row, sizes[row.id]) for row in rows]


async def group_members(ctx: Context, project_id: str, group_id: str) -> list[str]:
    """The group's own numbers, in number order."""
    async with ctx.db.read() as conn:
        await _load(conn, project_id, group_id)
        return await gq.members(conn, group_id)


async def do_replace_group(ctx: Context, project_id: str, group_id: str, payload: object) -> Group:
    """Everything about the group becomes what the body says; fields left out become empty."""
    await validate_numbers_in_slices(payload, "members")
    fields = check_group(payload, ctx.settings.max_recipients)
    now = ctx.clock()
    async with ctx.db.write() as conn:
        await _load(conn, project_id, group_id, lock=True)
        if group_id in fields.child_groups:
            raise invalid(f"child_groups[{fields.child_groups.index(group_id)}]", "a group cannot be its own child")
        await _check_groups_exist(conn, project_id, _child_fields(fields))
        await gq.remove_members(conn, group_id)
        await gq.add_members(conn, group_id, fields.members, now)
        await gq.update_group(conn, group_id, {
            "name": fields.name, "child_groups": list(fields.child_groups),
            **_auto_update_columns(fields.auto_update), "modified_ms": now,
        })
        return await _reread(conn, project_id, group_id)


async def do_update_group(ctx: Context, project_id: str, group_id: str, payload: object) -> Group:
    """Add and remove members (additions first, so a number in both ends outside), copy in or
    take out another group's members, rename, change auto_update."""
    await validate_numbers_in_slices(payload, "add", "remove")
    change = check_group_update(payload, ctx.settings.max_recipients)
    now = ctx.clock()
    async with ctx.db.write() as conn:
        row = await _load(conn, project_id, group_id, lock=True)
        await _check_groups_exist(conn, project_id, [
            (name, other) for name, other in (("add_from_group", change.add_from_group),
                                              ("remove_from_group", change.remove_from_group))
            if other is not None])
        values: dict[str, Any] = {"modified_ms": now}
        if change.name_given:
            values["name"] = change.name
        if change.auto_update:
            current = gq.auto_update_of(row)
            if current is None and "to" not in change.auto_update:
                raise invalid("auto_update.to", "is required: the group has no auto_update yet")
            merged = AutoUpdate(
                change.auto_update.get("to", current.to if current else ""),
                change.auto_update.get("add", current.add if current else None),
                change.auto_update.get("remove", current.remove if current else None),
            )
            values.update(_auto_update_columns(merged))
        await gq.add_members(conn, group_id, change.add, now)
        if change.add_from_group is not None:
            await gq.add_members(conn, group_id, await gq.members(conn, change.add_from_group), now)
        await gq.remove_members(conn, group_id, change.remove)
        if change.remove_from_group is not None:
            await gq.remove_members(conn, group_id, await gq.members(conn, change.remove_from_group))
        await _check_size(conn, group_id, "add_from_group" if change.add_from_group else "add",
                          ctx.settings.max_recipients)
        await gq.update_group(conn, group_id, values)
        return await _reread(conn, project_id, group_id)


async def do_delete_group(ctx: Context, project_id: str, group_id: str) -> None:
    """Delete the group; groups that had it as a child no longer do. A batch scheduled for later
    whose groups are not expanded yet reaches none of its members."""
    async with ctx.db.write() as conn:
        if not await gq.delete_group(conn, project_id, group_id, ctx.clock()):
            raise NotFound(f"Group {group_id} not found")


# ---------------------------------------------------------------------------------------------
# Sending to groups


@dataclass(frozen=True)
class GroupSend:
    """A send body whose `to` named groups: `payload` with `to` as the numbers they stand for,
    and the `to` as sent (numbers in E.164, group ids upper case, without repeats) for the batch
    to show. `expand_at_ms` set: a scheduled send whose groups are expanded then
    (`resolve_groups`), `payload`'s `to` holding only the numbers the `to` named itself."""

    payload: dict[str, Any]
    requested_to: tuple[str, ...]
    expand_at_ms: int | None = None


def _named_groups(payload: object, max_recipients: int) -> tuple[list[str], dict[str, int]] | None:
    """The `to` as sent (numbers in E.164, group ids upper case) and the group ids it names, each
    with where it first is; None when the `to` names no group or is not a list a send can take."""
    if not isinstance(payload, dict):
        return None
    raw = payload.get("to")
    if not isinstance(raw, list) or len(raw) > max_recipients or not any(is_group_id(item) for item in raw):
        return None
    named: dict[str, int] = {}  # group id -> where it first is in `to`
    requested: list[str] = []
    for i, item in enumerate(raw):
        if is_group_id(item):
            group_id = str(item).upper()
            named.setdefault(group_id, i)
            requested.append(group_id)
        else:
            requested.append(check_msisdn(f"to[{i}]", item))
    return requested, named


def _check_named(named: dict[str, int], found: Iterable[str]) -> None:
    present = set(found)
    for group_id, i in named.items():
        if group_id not in present:
            raise unknown_group(f"to[{i}]", group_id)


async def expand_groups(ctx: Context, project_id: str, payload: object) -> GroupSend | None:
    """The body with each group id in its `to` replaced by the group's members (and its child
    groups', `tidings.store.groups.expand`) as they are now, then the numbers deduplicated in
    order; None when the `to` names no group (or is not a list a send can take), so the caller's
    own error stands. The numbers come to at most `max_recipients`, like any batch's."""
    parsed = _named_groups(payload, ctx.settings.max_recipients)
    if parsed is None:
        return None
    assert isinstance(payload, dict)
    return await _expanded(ctx, project_id, payload, *parsed)


async def resolve_groups(ctx: Context, project_id: str, payload: object, now: int) -> GroupSend | None:
    """A send body whose `to` names groups: scheduled for later (`send_at` after `now`), the
    groups checked to be the project's and the body's `to` kept to the numbers it names itself
    (maybe none), the members read at `send_at` (`tidings.actions.scheduled_groups`); else the
    groups expanded now (`expand_groups`). None when the `to` names no group."""
    parsed = _named_groups(payload, ctx.settings.max_recipients)
    if parsed is None:
        return None
    assert isinstance(payload, dict)
    send_at = _later_send_at(payload, now)
    if send_at is None:
        return await _expanded(ctx, project_id, payload, *parsed)
    requested, named = parsed
    async with ctx.db.read() as conn:
        found = await gq.existing(conn, project_id, list(named))
    _check_named(named, found)
    numbers = list(dict.fromkeys(item for item in requested if item not in named))
    return GroupSend({**payload, "to": numbers}, tuple(dict.fromkeys(requested)), expand_at_ms=send_at)


def _later_send_at(payload: dict[str, Any], now: int) -> int | None:
    """The body's `send_at` when it is after `now`; None when it is not, or is no date-time (the
    send's own checks refuse that)."""
    try:
        send_at = check_datetime("send_at", payload.get("send_at"))
    except RequestError:
        return None
    return send_at if send_at is not None and send_at > now else None


async def _expanded(ctx: Context, project_id: str, payload: dict[str, Any], requested: list[str],
                    named: dict[str, int]) -> GroupSend:
    max_recipients = ctx.settings.max_recipients
    async with ctx.db.read() as conn:
        expanded = await gq.expand(conn, project_id, list(named))
    _check_named(named, expanded)
    recipients = list(dict.fromkeys(
        number for item in requested for number in (expanded[item] if item in named else (item,))))
    if not recipients:
        raise invalid("to", "the groups named have no members")
    if len(recipients) > max_recipients:
        raise invalid("to", f"at most {max_recipients} recipients per batch; with the groups' members "
                            f"there are {len(recipients)}")
    out = {**payload, "to": recipients}
    await validate_numbers_in_slices(out, "to")
    return GroupSend(out, tuple(dict.fromkeys(requested)))
