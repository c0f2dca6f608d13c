"""The SQL of XMS groups: a project's groups and their members, a send's expansion of group ids
into numbers, and the membership changes inbound keywords make (`keyword_changes`, then
`apply_keyword_changes` in the outcome writer's transaction).

Every change to a group's members first locks the group's row (`FOR UPDATE` on PostgreSQL;
SQLite has one writer at a time), so concurrent changes to one group apply one after the other
and its size limit holds; members are inserted ignoring those already there, so a number is in a
group once whatever the race. A transaction that changes several groups locks them all at once,
in id order (`lock`), so two workers' flushes (or a flush and a delete) cannot wait on each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.core.groups import AutoUpdate, Keywords, keyword_action, member_number
from tidings.store.groups_schema import group_members, groups
from tidings.store.prepared import PreparedQuery

__all__ = [
    "KeywordChange",
    "add_members",
    "apply_keyword_changes",
    "auto_update_of",
    "count_members",
    "delete_group",
    "existing",
    "expand",
    "get",
    "insert_group",
    "keyword_changes",
    "list_page",
    "lock",
    "members",
    "remove_members",
    "sizes",
    "update_group",
]

g, m = groups.c, group_members.c


async def insert_group(conn: AsyncConnection, row: dict[str, Any], numbers: Sequence[str]) -> None:
    await conn.execute(groups.insert().values(**row))
    await add_members(conn, row["id"], numbers, row["created_ms"])


async def get(conn: AsyncConnection, project_id: str, group_id: str, *,
              for_update: bool = False) -> Row[Any] | None:
    """The project's group (None for another project's); `for_update`: locked until the
    transaction ends."""
    query = select(groups).where(g.id == group_id, g.project_id == project_id)
    if for_update:
        query = query.with_for_update()
    return (await conn.execute(query)).first()


async def lock(conn: AsyncConnection, group_ids: Iterable[str], project_id: str | None = None) -> set[str]:
    """Lock these groups (of the project, when given) until the transaction ends, in id order;
    returns those that exist."""
    ids = sorted(set(group_ids))
    if not ids:
        return set()
    query = select(g.id).where(g.id.in_(ids))
    if project_id is not None:
        query = query.where(g.project_id == project_id)
    return {row[0] for row in await conn.execute(query.order_by(g.id).with_for_update())}


async def existing(conn: AsyncConnection, project_id: str, group_ids: Iterable[str]) -> set[str]:
    """Those of these ids that are groups of the project."""
    ids = list(set(group_ids))
    if not ids:
        return set()
    rows = await conn.execute(select(g.id).where(g.project_id == project_id, g.id.in_(ids)))
    return {row[0] for row in rows}


async def sizes(conn: AsyncConnection, group_ids: Sequence[str]) -> dict[str, int]:
    """Each group's own number of members."""
    out = dict.fromkeys(group_ids, 0)
    if group_ids:
        rows = await conn.execute(
            select(m.group_id, func.count()).where(m.group_id.in_(list(group_ids))).group_by(m.group_id))
        out.update({row[0]: int(row[1]) for row in rows})
    return out


async def count_members(conn: AsyncConnection, group_id: str) -> int:
    return (await sizes(conn, [group_id]))[group_id]


async def list_page(conn: AsyncConnection, project_id: str, page: int, page_size: int) -> tuple[int, list[Row[Any]]]:
    """(the project's number of groups, this page's rows), newest first."""
    count = (await conn.execute(
        select(func.count()).select_from(groups).where(g.project_id == project_id))).scalar_one()
    rows = await conn.execute(
        select(groups).where(g.project_id == project_id).order_by(g.created_ms.desc(), g.id.desc())
        .limit(page_size).offset(page * page_size))
    return int(count), list(rows)


async def members(conn: AsyncConnection, group_id: str) -> list[str]:
    """The group's own numbers, in number order."""
    rows = await conn.execute(select(m.number).where(m.group_id == group_id).order_by(m.number))
    return [row[0] for row in rows]


async def add_members(conn: AsyncConnection, group_id: str, numbers: Iterable[str], now: int) -> None:
    """Add numbers to the group; those already in it stay as they are."""
    rows = [{"group_id": group_id, "number": n, "added_ms": now} for n in dict.fromkeys(numbers)]
    if not rows:
        return
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    await conn.execute(dialect_insert(group_members).on_conflict_do_nothing(), rows)


async def remove_members(conn: AsyncConnection, group_id: str, numbers: Iterable[str] | None = None) -> int:
    """Remove these numbers (None: every member) from the group; returns how many were in it."""
    query = delete(group_members).where(m.group_id == group_id)
    if numbers is not None:
        wanted = list(set(numbers))
        if not wanted:
            return 0
        query = query.where(m.number.in_(wanted))
    return int((await conn.execute(query)).rowcount or 0)


async def update_group(conn: AsyncConnection, group_id: str, values: dict[str, Any]) -> None:
    await conn.execute(update(groups).where(g.id == group_id).values(**values))


async def delete_group(conn: AsyncConnection, project_id: str, group_id: str, now: int) -> bool:
    """Delete the group and its members, and take it out of the project's groups that had it as a
    child; False if the project has no such group."""
    parents = [row[0] for row in await conn.execute(select(g.id, g.child_groups).where(g.project_id == project_id))
               if group_id in (row[1] or [])]
    if group_id not in await lock(conn, [group_id, *parents], project_id):
        return False
    await remove_members(conn, group_id)
    await conn.execute(delete(groups).where(g.id == group_id))
    if parents:
        rows = await conn.execute(select(g.id, g.child_groups).where(g.id.in_(parents)))
        for parent_id, children in list(rows):
            if group_id in (children or []):
                await update_group(conn, parent_id, {
                    "child_groups": [c for c in children if c != group_id], "modified_ms": now})
    return True


async def expand(conn: AsyncConnection, project_id: str, group_ids: Sequence[str]) -> dict[str, list[str]]:
    """The numbers each of the project's groups named stands for: its own members (in number
    order), then its child groups', theirs in turn, without repeats; child groups are followed to
    any depth, each group once (a cycle ends where it closes). Ids that are not the project's
    groups are missing from the result."""
    rows: dict[str, list[str]] = {}   # group id -> its child group ids
    own: dict[str, list[str]] = {}    # group id -> its own numbers
    wanted = list(dict.fromkeys(group_ids))
    while wanted:
        found = await conn.execute(select(g.id, g.child_groups).where(g.project_id == project_id, g.id.in_(wanted)))
        new = {row[0]: list(row[1] or []) for row in found}
        rows.update(new)
        for group_id in new:
            own[group_id] = []
        if new:
            numbers = await conn.execute(
                select(m.group_id, m.number).where(m.group_id.in_(list(new))).order_by(m.group_id, m.number))
            for group_id, number in numbers:
                own[group_id].append(number)
        wanted = list(dict.fromkeys(c for children in new.values() for c in children if c not in rows))

    def numbers_of(group_id: str) -> list[str]:
        out: dict[str, None] = {}
        seen: set[str] = set()
        stack = [group_id]
        while stack:  # depth first, children in their given order
            current = stack.pop()
            if current in seen or current not in rows:
                continue
            seen.add(current)
            out.update(dict.fromkeys(own[current]))
            stack.extend(reversed(rows[current]))
        return list(out)

    return {group_id: numbers_of(group_id) for group_id in dict.fromkeys(group_ids) if group_id in rows}


def auto_update_of(row: Any) -> AutoUpdate | None:
    """A group row's auto_update (None without one)."""
    if row.auto_to is None:
        return None
    add = Keywords(row.add_first_word, row.add_second_word) if row.add_first_word is not None else None
    remove = Keywords(row.remove_first_word, row.remove_second_word) if row.remove_first_word is not None else None
    return AutoUpdate(row.auto_to, add, remove)


# Every routed MO runs it: built once, run prepared (as MO routing is, `tidings/store/inbound.py`).
_AUTO_UPDATED = PreparedQuery(
    select(g.id, g.auto_to, g.add_first_word, g.add_second_word, g.remove_first_word, g.remove_second_word)
    .where(g.project_id == bindparam("b_project"), g.auto_to.in_(bindparam("b_numbers", expanding=True)))
    .order_by(g.id)
)


@dataclass(frozen=True)
class KeywordChange:
    """What an inbound message's keywords ask of one group: its sender joins (`add`), leaves
    (`remove`), or both (it ends outside, as an update's adds go before its removes)."""

    group_id: str
    number: str
    add: bool
    remove: bool


async def keyword_changes(conn: AsyncConnection, project_id: str, sender: str, recipient: str,
                          body: str) -> list[KeywordChange]:
    """The changes an inbound message asks of the project's groups with auto_update to the
    number it was sent to, by their keywords; none for a sender that is not an E.164 number."""
    bare = recipient.lstrip("+")
    candidates = await _AUTO_UPDATED.rows(conn, {"b_project": project_id, "b_numbers": [bare, "+" + bare]})
    if not candidates:
        return []
    matched: list[tuple[str, bool, bool]] = []
    for row in candidates:
        auto = auto_update_of(row)
        add, remove = keyword_action(body, auto) if auto is not None else (False, False)
        if add or remove:
            matched.append((row.id, add, remove))
    number = member_number(sender) if matched else None
    if number is None:
        return []  # no keyword matched; or an alphanumeric or national sender, never a member
    return [KeywordChange(group_id, number, add, remove) for group_id, add, remove in matched]


async def apply_keyword_changes(conn: AsyncConnection, changes: Sequence[KeywordChange], now: int,
                                max_members: int) -> int:
    """Apply inbound messages' changes (`keyword_changes`, of any projects), in order, their groups
    locked first, all at once: a join into a group holding `max_members` is ignored. Returns how
    many changed a group; each changed group's `modified_ms` is `now`."""
    if not changes:
        return 0
    present = await lock(conn, (c.group_id for c in changes))
    changed: set[str] = set()
    count = 0
    for change in changes:
        if change.group_id not in present:
            continue  # deleted since
        in_group = bool(await _present(conn, change.group_id, [change.number]))
        if change.remove:
            if not in_group:
                continue
            await remove_members(conn, change.group_id, [change.number])
        elif in_group or await count_members(conn, change.group_id) >= max_members:
            continue
        else:
            await add_members(conn, change.group_id, [change.number], now)
        changed.add(change.group_id)
        count += 1
    for group_id in sorted(changed):
        await update_group(conn, group_id, {"modified_ms": now})
    return count


async def _present(conn: AsyncConnection, group_id: str, numbers: Sequence[str]) -> set[str]:
    rows = await conn.execute(select(m.number).where(m.group_id == group_id, m.number.in_(list(numbers))))
    return {row[0] for row in rows}
