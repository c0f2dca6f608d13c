"""The webhook outbox: rows written with the change that causes them, and the sender's queries.

A webhook is never lost because it is committed in the same transaction as the state change it
reports: the writer builds a row with `webhook_row` and inserts it with `enqueue` on its own
connection. The sender then moves each row through

    pending ──2xx──────────────────────────▶ delivered
       │ ▲
       │ └── failure: attempts+1, due_ms later (backoff), claim released
       ├──── refused (a 4xx but 408/429) ──▶ rejected
       └──── older than the maximum age ───▶ expired

Claims are leases: `claimed_ms` is set by a guarded UPDATE that only succeeds on a row that is
pending, due, and unclaimed or claimed longer ago than the lease, so two senders never post the
same row at once and a crashed sender's rows are taken over after the lease. On PostgreSQL rows
are locked with `FOR UPDATE SKIP LOCKED`, always in id order, so concurrent senders neither wait
on nor deadlock with each other; SQLite has one writer at a time and needs no locks.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.store.schema import projects, webhook_outbox

__all__ = [
    "DELIVERED",
    "EXPIRED",
    "PENDING",
    "REJECTED",
    "Candidate",
    "Claimed",
    "Expired",
    "claim",
    "defer",
    "defer_url",
    "due_candidates",
    "enqueue",
    "expire",
    "lock",
    "mark_delivered",
    "mark_expired",
    "mark_failed",
    "mark_rejected",
    "project_secrets",
    "purge_finished",
    "webhook_row",
]

PENDING = "pending"
DELIVERED = "delivered"
EXPIRED = "expired"
REJECTED = "rejected"
FINISHED = (DELIVERED, EXPIRED, REJECTED)

MAX_ERROR_LENGTH = 500

_o = webhook_outbox


def webhook_row(
    project_id: str, url: str, kind: str, body: bytes, now_ms: int, *, secret: str | None = None
) -> dict[str, Any]:
    """A pending outbox row, due now, ready to insert with the change that caused it.

    `kind` is the event type (`recipient_delivery_report_sms`, `mo_text` …); `body` the exact
    bytes to post (signed as they are); `secret` signs it instead of the project's webhook
    secret (a Conversation API app webhook's own secret).
    """
    return {
        "project_id": project_id,
        "url": url,
        "kind": kind,
        "body": body,
        "attempts": 0,
        "due_ms": now_ms,
        "claimed_ms": None,
        "state": PENDING,
        "last_error": None,
        "created_ms": now_ms,
        "delivered_ms": None,
        "secret": secret,
    }


_INSERT = insert(_o)  # built once: every callback of every message is enqueued through it


_enqueued_here = 0  # rows this process has enqueued, committed or not (`enqueued_here`)


async def enqueue(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert outbox rows on `conn`, inside the caller's transaction."""
    global _enqueued_here
    if rows:
        await conn.execute(_INSERT, list(rows))
        _enqueued_here += len(rows)


def enqueued_here() -> int:
    """How many rows this process has enqueued so far: the pipeline reads it after each commit
    (`Database.after_write`) and wakes its sender (`WebhookSender.wake`) when it moved, rather
    than leave the rows to the sender's next poll."""
    return _enqueued_here


@dataclass(frozen=True, slots=True)
class Candidate:
    """A due row as seen before claiming: enough to decide whether to take it."""

    id: int
    url: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row this sender holds the lease on (`claimed_ms` is its lease token)."""

    id: int
    project_id: str
    url: str
    kind: str
    body: bytes
    attempts: int
    created_ms: int
    claimed_ms: int
    secret: str | None = None  # signs the row instead of the project's secret


@dataclass(frozen=True, slots=True)
class Expired:
    id: int
    project_id: str
    url: str
    kind: str
    attempts: int
    created_ms: int
    last_error: str | None


def _claimable(now_ms: int, stale_before_ms: int) -> ColumnElement[bool]:
    """Pending, due, and not held by a live lease."""
    return and_(
        _o.c.state == PENDING,
        _o.c.due_ms <= now_ms,
        or_(_o.c.claimed_ms.is_(None), _o.c.claimed_ms <= stale_before_ms),
    )


async def due_candidates(
    conn: AsyncConnection,
    now_ms: int,
    stale_before_ms: int,
    limit: int,
    exclude_urls: Collection[str] = (),
) -> list[Candidate]:
    """Claimable rows, oldest due first (then the least tried, then the oldest), skipping
    `exclude_urls`."""
    query = (
        select(_o.c.id, _o.c.url, _o.c.created_ms)
        .where(_claimable(now_ms, stale_before_ms))
        .order_by(_o.c.due_ms, _o.c.attempts, _o.c.id)
        .limit(limit)
    )
    if exclude_urls:
        query = query.where(_o.c.url.not_in(list(exclude_urls)))
    return [Candidate(r.id, r.url, r.created_ms) for r in await conn.execute(query)]


async def lock(
    conn: AsyncConnection, ids: Collection[int], now_ms: int, stale_before_ms: int
) -> set[int]:
    """Of `ids`, those still claimable, locked for this transaction; rows locked by another
    transaction are skipped (PostgreSQL), never waited for."""
    if not ids:
        return set()
    query = (
        select(_o.c.id)
        .where(_o.c.id.in_(sorted(ids)), _claimable(now_ms, stale_before_ms))
        .order_by(_o.c.id)
        .with_for_update(skip_locked=True)
    )
    return set((await conn.execute(query)).scalars())


async def claim(
    conn: AsyncConnection, ids: Collection[int], now_ms: int, stale_before_ms: int
) -> list[Claimed]:
    """Take the lease on those of `ids` still claimable; returns the rows taken, in id order."""
    if not ids:
        return []
    result = await conn.execute(
        update(_o)
        .where(_o.c.id.in_(sorted(ids)), _claimable(now_ms, stale_before_ms))
        .values(claimed_ms=now_ms)
        .returning(_o.c.id, _o.c.project_id, _o.c.url, _o.c.kind, _o.c.body, _o.c.attempts,
                   _o.c.created_ms, _o.c.secret)
    )
    rows = [
        Claimed(r.id, r.project_id, r.url, r.kind, bytes(r.body), r.attempts, r.created_ms, now_ms,
                r.secret)
        for r in result
    ]
    return sorted(rows, key=lambda row: row.id)


async def expire(
    conn: AsyncConnection, ids: Collection[int], now_ms: int, stale_before_ms: int
) -> list[Expired]:
    """Expire those of `ids` still claimable (found too old before being attempted again)."""
    if not ids:
        return []
    result = await conn.execute(
        update(_o)
        .where(_o.c.id.in_(sorted(ids)), _claimable(now_ms, stale_before_ms))
        .values(state=EXPIRED, claimed_ms=None)
        .returning(_o.c.id, _o.c.project_id, _o.c.url, _o.c.kind, _o.c.attempts, _o.c.created_ms,
                   _o.c.last_error)
    )
    return [
        Expired(r.id, r.project_id, r.url, r.kind, r.attempts, r.created_ms, r.last_error)
        for r in result
    ]


async def defer(
    conn: AsyncConnection, ids: Collection[int], due_ms: int, now_ms: int, stale_before_ms: int
) -> int:
    """Push those of `ids` still claimable back to `due_ms`; returns how many moved."""
    if not ids:
        return 0
    result = await conn.execute(
        update(_o)
        .where(_o.c.id.in_(sorted(ids)), _claimable(now_ms, stale_before_ms))
        .values(due_ms=due_ms, claimed_ms=None)
    )
    return int(result.rowcount)


async def defer_url(conn: AsyncConnection, url: str, due_ms: int, stale_before_ms: int) -> int:
    """Push every unclaimed pending row for `url` due before `due_ms` back to `due_ms`: while a
    receiver is failing its queue waits, instead of every row being tried and failing in turn.
    Rows locked by another transaction are left alone."""
    targets = (
        select(_o.c.id)
        .where(
            _o.c.state == PENDING,
            _o.c.due_ms < due_ms,
            _o.c.url == url,
            or_(_o.c.claimed_ms.is_(None), _o.c.claimed_ms <= stale_before_ms),
        )
        .order_by(_o.c.id)
        .with_for_update(skip_locked=True)
    )
    result = await conn.execute(
        update(_o).where(_o.c.id.in_(targets.scalar_subquery())).values(due_ms=due_ms, claimed_ms=None)
    )
    return int(result.rowcount)


async def project_secrets(conn: AsyncConnection, project_ids: Collection[str]) -> dict[str, str]:
    """Each project's current webhook secret."""
    if not project_ids:
        return {}
    query = select(projects.c.id, projects.c.webhook_secret).where(projects.c.id.in_(sorted(project_ids)))
    return {r.id: r.webhook_secret for r in await conn.execute(query)}


async def mark_delivered(conn: AsyncConnection, row_id: int, now_ms: int) -> bool:
    """Delivered, whoever holds the lease now: the receiver has it. False if it was no longer
    pending (another sender that took over a lapsed lease delivered it first)."""
    result = await conn.execute(
        update(_o)
        .where(_o.c.id == row_id, _o.c.state == PENDING)
        .values(state=DELIVERED, delivered_ms=now_ms, claimed_ms=None, attempts=_o.c.attempts + 1,
                last_error=None)
    )
    return bool(result.rowcount)


async def mark_failed(
    conn: AsyncConnection, row: Claimed, due_ms: int, error: str
) -> bool:
    """A failed attempt: count it, release the lease, try again at `due_ms`. Only while the lease
    is still ours (False otherwise: another sender took the row over)."""
    result = await conn.execute(
        update(_o)
        .where(_o.c.id == row.id, _o.c.state == PENDING, _o.c.claimed_ms == row.claimed_ms)
        .values(attempts=_o.c.attempts + 1, due_ms=due_ms, claimed_ms=None,
                last_error=error[:MAX_ERROR_LENGTH])
    )
    return bool(result.rowcount)


async def mark_expired(conn: AsyncConnection, row: Claimed, error: str) -> bool:
    """A failed attempt after which the row would only be retried past its maximum age."""
    result = await conn.execute(
        update(_o)
        .where(_o.c.id == row.id, _o.c.state == PENDING, _o.c.claimed_ms == row.claimed_ms)
        .values(state=EXPIRED, attempts=_o.c.attempts + 1, claimed_ms=None,
                last_error=error[:MAX_ERROR_LENGTH])
    )
    return bool(result.rowcount)


async def mark_rejected(conn: AsyncConnection, row: Claimed, error: str) -> bool:
    """The receiver refused the row for good (a 4xx other than 408 and 429): not retried."""
    result = await conn.execute(
        update(_o)
        .where(_o.c.id == row.id, _o.c.state == PENDING, _o.c.claimed_ms == row.claimed_ms)
        .values(state=REJECTED, attempts=_o.c.attempts + 1, claimed_ms=None,
                last_error=error[:MAX_ERROR_LENGTH])
    )
    return bool(result.rowcount)


async def purge_finished(conn: AsyncConnection, created_before_ms: int, limit: int = 10_000) -> int:
    """Delete up to `limit` delivered, rejected or expired rows created before
    `created_before_ms` (the table keeps them for inspection until then); returns how many went.
    Pending rows stay."""
    targets = (
        select(_o.c.id)
        .where(_o.c.state.in_(FINISHED), _o.c.created_ms < created_before_ms)
        .order_by(_o.c.id)
        .limit(limit)
    )
    result = await conn.execute(delete(_o).where(_o.c.id.in_(targets.scalar_subquery())))
    return int(result.rowcount)
