"""Read queries behind the XMS inbounds endpoints: one inbound message, and the paged list.

Only a project's own inbounds are visible (unrouted ones, with no project, are seen by nobody).
An inbound's `client_reference` is derived, not stored: it is the client reference of the
project's latest batch sent from the number the handset wrote to, to that handset, before the
message arrived (a reply to a message carries the reference of the message it answers). When
that batch has no reference the inbound has none, even if an earlier batch had one: the reply
answers the latest message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.store.queries.reports import number_variants
from tidings.store.schema import batches, deliveries, inbounds

__all__ = ["find_inbound", "list_inbounds"]

i = inbounds
b = batches
d = deliveries


def _both_ways(number: ColumnElement[Any]) -> list[ColumnElement[Any]]:
    bare = func.ltrim(number, "+")
    return [bare, literal("+").concat(bare)]


def _client_reference() -> ColumnElement[Any]:
    """The client reference (maybe NULL) of the batch an inbound answers: the newest one sent to
    the handset from the number it wrote to, with or without a reference (a correlated scalar
    subquery)."""
    return (
        select(b.c.client_reference)
        .select_from(b.join(d, d.c.batch_id == b.c.id))
        .where(
            b.c.project_id == i.c.project_id,
            b.c.sender.in_(_both_ways(i.c.recipient)),
            d.c.recipient.in_(_both_ways(i.c.sender)),
            b.c.created_ms <= i.c.received_ms,
        )
        .order_by(b.c.created_ms.desc(), b.c.id.desc())
        .limit(1)
        .correlate(i)
        .scalar_subquery()
    )


def _fields() -> tuple[ColumnElement[Any], ...]:
    return (
        i.c.id,
        i.c.type,
        i.c.sender,
        i.c.recipient,
        i.c.body,
        i.c.udh,
        i.c.received_ms,
        _client_reference().label("client_reference"),
    )


async def find_inbound(conn: AsyncConnection, project_id: str, inbound_id: str) -> Row[Any] | None:
    query = select(*_fields()).where(i.c.id == inbound_id, i.c.project_id == project_id)
    return (await conn.execute(query)).first()


async def list_inbounds(
    conn: AsyncConnection,
    project_id: str,
    *,
    start_ms: int,
    end_ms: int | None,
    to: Sequence[str] | None,
    client_reference: str | None,
    offset: int,
    limit: int,
) -> tuple[int, list[Row[Any]]]:
    """(total matching, one page) of the project's inbounds received at or after `start_ms` and
    before `end_ms`, sent to one of `to`, newest first."""
    where: list[ColumnElement[bool]] = [i.c.project_id == project_id, i.c.received_ms >= start_ms]
    if end_ms is not None:
        where.append(i.c.received_ms < end_ms)
    if to is not None:
        where.append(i.c.recipient.in_([v for number in to for v in number_variants(number)]))
    if client_reference is not None:
        where.append(_client_reference() == client_reference)
    total = (await conn.execute(select(func.count()).select_from(i).where(*where))).scalar_one()
    page = (
        select(*_fields())
        .where(*where)
        .order_by(i.c.received_ms.desc(), i.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return int(total), list(await conn.execute(page))
