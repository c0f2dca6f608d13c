"""Queries of the SMPP gateway: accounts, SMPP-submitted batches and the deliver_sm outbox.

The outbox works like the webhook outbox (`tidings.webhooks.outbox`): rows are inserted in the
transaction of the change they report, and a sender moves each through

    pending ──deliver_sm_resp OK──▶ delivered
       │ ▲
       │ └── failure or no bound receiver: attempts+1, due later, claim released
       └──── older than the maximum age ──▶ expired

Rows of any state older than the webhook retention are deleted by the sweeper (`purge_outbox`).

Claims are leases: a guarded UPDATE sets `claimed_ms` only on a pending, due row that is
unclaimed or whose lease has run out, so two gateway processes never send the same row at once.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.store.gateway_schema import smpp_accounts, smpp_batches, smpp_outbox
from tidings.store.prepared import PreparedQuery
from tidings.store.retention import delete_oldest_before

__all__ = [
    "DELIVERED",
    "EXPIRED",
    "PENDING",
    "Account",
    "Claimed",
    "account",
    "accounts_for_plans",
    "claim",
    "enqueue",
    "expire_old",
    "mark_bound",
    "mark_delivered",
    "mark_failed",
    "outbox_row",
    "purge_outbox",
    "smpp_batches_by_id",
]

PENDING = "pending"
DELIVERED = "delivered"
EXPIRED = "expired"
MAX_ERROR_LENGTH = 500

_o = smpp_outbox
_a = smpp_accounts


@dataclass(frozen=True, slots=True)
class Account:
    system_id: str
    project_id: str
    service_plan_id: str
    password_hash: str
    window: int
    throughput: int
    max_binds: int
    allowed_networks: str | None


async def account(conn: AsyncConnection, system_id: str) -> Account | None:
    row = (await conn.execute(select(_a).where(_a.c.system_id == system_id))).first()
    if row is None:
        return None
    return Account(row.system_id, row.project_id, row.service_plan_id, row.password_hash, row.window,
                   row.throughput, row.max_binds, row.allowed_networks)


async def mark_bound(conn: AsyncConnection, system_id: str, now_ms: int) -> None:
    await conn.execute(update(_a).where(_a.c.system_id == system_id).values(bound_ms=now_ms))


async def accounts_for_plans(
    conn: AsyncConnection, plans: Collection[str], projects: Collection[str]
) -> list[tuple[str, str, str]]:
    """(system_id, project_id, service_plan_id) of accounts that have bound at least once and
    belong to one of `plans` or to one of `projects`."""
    if not plans and not projects:
        return []
    query = select(_a.c.system_id, _a.c.project_id, _a.c.service_plan_id).where(
        _a.c.bound_ms.is_not(None),
        or_(_a.c.service_plan_id.in_(list(plans)), _a.c.project_id.in_(list(projects))),
    ).order_by(_a.c.created_ms)
    return [(r[0], r[1], r[2]) for r in await conn.execute(query)]


_BATCHES_BY_ID = PreparedQuery(
    select(smpp_batches).where(smpp_batches.c.batch_id.in_(bindparam("b_ids", expanding=True))))
"""Built once: the outcome writer asks this on every flush with final statuses, and building the
`in_()` over the flush's batch ids cost more loop time than the query."""


async def smpp_batches_by_id(conn: AsyncConnection, batch_ids: Collection[str]) -> dict[str, Any]:
    if not batch_ids:
        return {}
    return {r.batch_id: r for r in await _BATCHES_BY_ID.rows(conn, {"b_ids": list(batch_ids)})}


def outbox_row(system_id: str, kind: str, pdus: bytes, now_ms: int) -> dict[str, Any]:
    return {
        "system_id": system_id, "kind": kind, "pdus": pdus, "state": PENDING, "attempts": 0,
        "due_ms": now_ms, "claimed_ms": None, "last_error": None, "created_ms": now_ms,
        "delivered_ms": None,
    }


async def enqueue(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert outbox rows inside the caller's transaction."""
    if rows:
        await conn.execute(insert(_o), list(rows))


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    system_id: str
    kind: str
    pdus: bytes
    attempts: int
    created_ms: int


def _claimable(now_ms: int, stale_before_ms: int) -> ColumnElement[bool]:
    return and_(
        _o.c.state == PENDING,
        _o.c.due_ms <= now_ms,
        or_(_o.c.claimed_ms.is_(None), _o.c.claimed_ms <= stale_before_ms),
    )


async def claim(
    conn: AsyncConnection, system_ids: Collection[str], now_ms: int, stale_before_ms: int, limit: int
) -> list[Claimed]:
    """Take the lease on up to `limit` due rows of `system_ids`, oldest first."""
    if not system_ids or limit <= 0:
        return []
    candidates = (
        select(_o.c.id)
        .where(_o.c.system_id.in_(sorted(system_ids)), _claimable(now_ms, stale_before_ms))
        .order_by(_o.c.id)
        .limit(limit)
    )
    ids = list((await conn.execute(candidates)).scalars())
    if not ids:
        return []
    result = await conn.execute(
        update(_o)
        .where(_o.c.id.in_(ids), _claimable(now_ms, stale_before_ms))
        .values(claimed_ms=now_ms)
        .returning(_o.c.id, _o.c.system_id, _o.c.kind, _o.c.pdus, _o.c.attempts, _o.c.created_ms)
    )
    rows = [Claimed(r.id, r.system_id, r.kind, bytes(r.pdus), r.attempts, r.created_ms) for r in result]
    return sorted(rows, key=lambda row: row.id)


async def mark_delivered(conn: AsyncConnection, row_id: int, now_ms: int) -> None:
    await conn.execute(
        update(_o).where(_o.c.id == row_id, _o.c.state == PENDING)
        .values(state=DELIVERED, delivered_ms=now_ms, claimed_ms=None, attempts=_o.c.attempts + 1)
    )


async def mark_failed(conn: AsyncConnection, row_id: int, due_ms: int, error: str, *, attempted: bool) -> None:
    """Release the row for a later attempt (`attempted`: a deliver_sm was sent and failed)."""
    values: dict[str, Any] = {"due_ms": due_ms, "claimed_ms": None, "last_error": error[:MAX_ERROR_LENGTH]}
    if attempted:
        values["attempts"] = _o.c.attempts + 1
    await conn.execute(update(_o).where(_o.c.id == row_id, _o.c.state == PENDING).values(**values))


async def purge_outbox(conn: AsyncConnection, created_before_ms: int, limit: int) -> int:
    """Delete rows created before `created_before_ms`, the oldest by id first; how many. The cutoff
    is the webhook retention (7 days), past the maximum age (72 hours) after which a pending row
    is given up anyway."""
    return await delete_oldest_before(conn, _o, _o.c.id, _o.c.created_ms, created_before_ms, limit)


async def expire_old(conn: AsyncConnection, created_before_ms: int) -> int:
    """Give up on pending rows older than the maximum age; returns how many."""
    result = await conn.execute(
        update(_o).where(_o.c.state == PENDING, _o.c.created_ms < created_before_ms).values(state=EXPIRED)
    )
    return int(result.rowcount or 0)
