"""Queries for mobile-originated messages: de-duplication and routing to a project."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.store.prepared import PreparedQuery, planned_for_parameters
from tidings.store.receipts import by_connection
from tidings.store.schema import batches, inbounds, numbers, service_plans

_EXISTING_KEYS = PreparedQuery(select(inbounds.c.connection, inbounds.c.smsc_message_id).where(
    inbounds.c.connection == bindparam("b_connection"),
    inbounds.c.smsc_message_id.in_(bindparam("b_ids", expanding=True)),
))


async def existing_keys(conn: AsyncConnection, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (connection, smsc_message_id) keys already stored: an SMSC delivering an MO again."""
    found: set[tuple[str, str]] = set()
    wanted = by_connection(keys)
    if not wanted:
        return found
    # Planned for the ids at hand, as `find_submissions`: a generic plan made while `inbounds`
    # was small read every row of the connection as it grew (tests/store/test_postgres_plans.py).
    async with planned_for_parameters(conn):
        for connection, ids in wanted.items():
            for row in await _EXISTING_KEYS.rows(conn, {"b_connection": connection, "b_ids": ids}):
                found.add((row[0], row[1]))
    return found


def _variants(number: str) -> list[str]:
    bare = number.lstrip("+")
    return [bare, "+" + bare]


# Built once, run prepared: every MO is routed, and building these per call cost more than
# running them.
_OWNER = PreparedQuery(
    select(numbers.c.project_id, numbers.c.service_plan_id, service_plans.c.callback_url)
    .select_from(numbers.outerjoin(service_plans, service_plans.c.id == numbers.c.service_plan_id))
    .where(numbers.c.number.in_(bindparam("b_numbers", expanding=True)))
    .limit(1)
)
_LAST_SENDER = PreparedQuery(
    select(batches.c.project_id, batches.c.service_plan_id,
           service_plans.c.callback_url, batches.c.callback_url.label("batch_callback"))
    .select_from(batches.outerjoin(service_plans, service_plans.c.id == batches.c.service_plan_id))
    .where(batches.c.sender.in_(bindparam("b_numbers", expanding=True)))
    .order_by(batches.c.created_ms.desc())
    .limit(1)
)


async def route(conn: AsyncConnection, to: str) -> tuple[str, str | None, str | None] | None:
    """(project_id, service_plan_id, callback_url) owning `to`: the number's registered owner,
    else the project that most recently sent from it (a reply goes back to whoever wrote)."""
    variants = {"b_numbers": _variants(to)}
    for row in await _OWNER.rows(conn, variants):
        return row[0], row[1], row[2]
    for row in await _LAST_SENDER.rows(conn, variants):
        return row[0], row[1], row[2] or row[3]
    return None


async def insert_inbounds(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(inbounds), list(rows))
