"""Read queries behind the XMS delivery report endpoints: a batch's status counts, one
recipient's report, and the paged list of recipient reports of a project.

Every query is scoped to a project: another project's batch reads as absent. Recipients are
matched with or without the leading `+`, as callers write numbers either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.store.schema import batches, deliveries

__all__ = [
    "ReportFilter",
    "batch_status_counts",
    "find_batch",
    "find_recipient_report",
    "list_recipient_reports",
    "number_variants",
]

b = batches
d = deliveries

# The columns of one recipient report (a delivery row and its batch's client reference).
RECIPIENT_FIELDS = (
    d.c.batch_id,
    d.c.recipient,
    d.c.status,
    d.c.code,
    d.c.status_ms,
    d.c.encoding,
    d.c.segments,
    b.c.client_reference,
    d.c.id.label("delivery_id"),
)


def number_variants(number: str) -> list[str]:
    """A phone number as stored either way: without and with the leading `+`."""
    bare = number.strip().lstrip("+")
    return [bare, "+" + bare]


@dataclass(frozen=True)
class ReportFilter:
    """Which recipients a report or list includes; None means no restriction."""

    statuses: Sequence[str] | None = None
    codes: Sequence[int] | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.statuses is not None:
            query = query.where(d.c.status.in_(list(self.statuses)))
        if self.codes is not None:
            query = query.where(d.c.code.in_(list(self.codes)))
        return query


async def find_batch(conn: AsyncConnection, project_id: str, batch_id: str) -> Row[Any, Any, Any] | None:
    """(id, client_reference, recipient_count) of the project's batch, or None."""
    query = select(b.c.id, b.c.client_reference, b.c.recipient_count).where(
        b.c.id == batch_id, b.c.project_id == project_id
    )
    return (await conn.execute(query)).first()


async def batch_status_counts(
    conn: AsyncConnection, batch_id: str, *, only: ReportFilter, with_recipients: bool
) -> list[tuple[str, int, int, list[str]]]:
    """(status, code, count, recipients) per status and code of a batch, in status then code
    order; recipients (in the order they were added) only when asked for."""
    if not with_recipients:
        query = select(d.c.status, d.c.code, func.count()).where(d.c.batch_id == batch_id)
        query = only.apply(query).group_by(d.c.status, d.c.code).order_by(d.c.status, d.c.code)
        return [(r[0], r[1], r[2], []) for r in await conn.execute(query)]
    groups: dict[tuple[str, int], list[str]] = {}
    query = select(d.c.status, d.c.code, d.c.recipient).where(d.c.batch_id == batch_id)
    for status, code, recipient in await conn.execute(only.apply(query).order_by(d.c.id)):
        groups.setdefault((status, code), []).append(recipient)
    return [(s, c, len(r), r) for (s, c), r in sorted(groups.items())]


async def find_recipient_report(
    conn: AsyncConnection, project_id: str, batch_id: str, recipient: str
) -> Row[*tuple[Any, ...]] | None:
    """The report of one recipient of the project's batch (RECIPIENT_FIELDS), or None."""
    query = (
        select(*RECIPIENT_FIELDS)
        .select_from(d.join(b, b.c.id == d.c.batch_id))
        .where(
            d.c.batch_id == batch_id,
            d.c.recipient.in_(number_variants(recipient)),
            b.c.project_id == project_id,
        )
        .order_by(d.c.id)
        .limit(1)
    )
    return (await conn.execute(query)).first()


async def list_recipient_reports(
    conn: AsyncConnection,
    project_id: str,
    *,
    start_ms: int,
    end_ms: int | None,
    only: ReportFilter,
    client_reference: str | None,
    offset: int,
    limit: int,
) -> tuple[int, list[Row[Any]]]:
    """(total matching, one page) of the project's recipient reports whose status changed at or
    after `start_ms` and before `end_ms`, newest first."""
    query = select(func.count()).select_from(d).where(d.c.project_id == project_id, d.c.status_ms >= start_ms)
    if end_ms is not None:
        query = query.where(d.c.status_ms < end_ms)
    if client_reference is not None:
        query = query.where(d.c.batch_id.in_(
            select(b.c.id).where(b.c.project_id == project_id, b.c.client_reference == client_reference)
        ))
    query = only.apply(query)
    total = (await conn.execute(query)).scalar_one()
    page = (
        query.with_only_columns(*RECIPIENT_FIELDS)
        .select_from(d.join(b, b.c.id == d.c.batch_id))
        .order_by(d.c.status_ms.desc(), d.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return int(total), list(await conn.execute(page))
