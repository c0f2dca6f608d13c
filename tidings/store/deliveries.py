"""Queries of the dispatch side of the pipeline: publishing, claiming (and renewing claims) and
releasing deliveries.

Every status write is guarded (`WHERE status IN (...)`), so concurrent workers and late events
can apply their updates blindly and the state machine in `tidings.core.statuses` still holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, bindparam, func, literal_column, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.core.statuses import DEFAULT_CODE, Status
from tidings.store.prepared import Prepared, PreparedQuery
from tidings.store.schema import batches, deliveries, service_plans

d = deliveries
QUEUED = Status.QUEUED.value
IS_QUEUED = d.c.status == literal_column("'Queued'")
"""`status = 'Queued'` written out, not bound: so PostgreSQL's generic plans, too, see that the
partial index of Queued rows (ix_deliveries_queued) holds every row asked for."""


async def publish_due(conn: AsyncConnection, now: int, limit: int) -> list[tuple[int, bool]]:
    """Mark due, unpublished Queued deliveries as published and return (id, priority) pairs;
    priority deliveries are picked first."""
    result = await conn.execute(_PUBLISH_DUE, {"now_": now, "limit_": limit, "published_ms": now})
    return [(r[0], bool(r[1])) for r in result]


async def republish_stale(conn: AsyncConnection, now: int, lease_ms: int, limit: int, *,
                          unclaimed_published_before: int | None = None) -> list[tuple[int, bool]]:
    """Queued deliveries whose worker or queue entry was lost: publish them again (the claim
    makes duplicates harmless). Always those claimed longer than a lease ago and never settled
    (the worker died: it took them off the queue when it claimed them); those never claimed
    only if published before `unclaimed_published_before` (their entry would still be in the
    queue otherwise; None: none of them). Returns (id, priority) pairs, priority ones first."""
    stale = now - lease_ms
    lost = d.c.claimed_ms < stale
    if unclaimed_published_before is not None:
        lost = lost | (d.c.claimed_ms.is_(None) & (d.c.published_ms < unclaimed_published_before))
    rows = (
        select(d.c.id)
        .where(IS_QUEUED, d.c.published_ms < stale, lost)
        .order_by(d.c.priority.desc())
        .limit(limit)
        .scalar_subquery()
    )
    result = await conn.execute(
        update(d).where(d.c.id.in_(rows)).values(published_ms=now, claimed_ms=None)
        .returning(d.c.id, d.c.priority)
    )
    return [(r[0], bool(r[1])) for r in result]


async def unpublish(conn: AsyncConnection, ids: Sequence[int]) -> int:
    """Those of these deliveries still Queued and unclaimed become unpublished, for the sweeper's
    next `publish_due`: their publish failed (the queue unreachable). Published, they would wait a
    lease or more for `republish_stale`. Returns how many."""
    if not ids:
        return 0
    result = await conn.execute(
        update(d).where(d.c.id.in_(list(ids)), IS_QUEUED, d.c.claimed_ms.is_(None)).values(published_ms=None)
    )
    return int(result.rowcount)


async def unpublish_all(conn: AsyncConnection) -> None:
    """At start-up of the embedded profile the in-process queue is empty: every Queued delivery
    becomes unpublished so the sweeper publishes it again."""
    await conn.execute(
        update(d).where(IS_QUEUED).values(published_ms=None, claimed_ms=None)
    )


def _status_unindexed() -> ColumnElement[str]:
    """The status column in a form no index matches. With `id IN (...) AND status = 'Queued'`
    SQLite planned the status index and read every Queued row (the whole backlog, so a claim
    cost grew with it) instead of the primary key; `status || ''` leaves it only the ids (or,
    for `publish_due`, the small partial index of unpublished rows)."""
    return d.c.status + ""


_PUBLISH_DUE = (  # built once: the sweeper runs it several times a second
    update(d)
    .where(d.c.id.in_(
        select(d.c.id)
        .where(_status_unindexed() == QUEUED, d.c.published_ms.is_(None), d.c.due_ms <= bindparam("now_"))
        .order_by(d.c.priority.desc())
        .limit(bindparam("limit_"))
        .scalar_subquery()))
    .returning(d.c.id, d.c.priority)
)


_CLAIM = PreparedQuery(  # built once: building `in_()` over a claim's ids per call cost more than the update
    update(d)
    .where(
        d.c.id.in_(bindparam("ids_", expanding=True)),
        _status_unindexed() == QUEUED,
        # A batch updated to a later send_at after its rows were queued: not yet.
        d.c.due_ms <= bindparam("now_"),
        (d.c.claimed_ms.is_(None)) | (d.c.claimed_ms < bindparam("stale_")),
    )
    .values(claimed_ms=bindparam("claimed_"), attempts=d.c.attempts + 1)
    .returning(d.c.id, d.c.batch_id, d.c.recipient, d.c.attempts, d.c.project_id, d.c.priority)
)


async def claim(conn: AsyncConnection, ids: Sequence[int], now: int, lease_ms: int) -> list[Row[Any]]:
    """Claim Queued deliveries for submission; ids claimed by a live worker are skipped."""
    if not ids:
        return []
    return await _CLAIM.rows(conn, {"ids_": list(ids), "now_": now, "stale_": now - lease_ms, "claimed_": now})


async def renew_claims(conn: AsyncConnection, claims: dict[int, int], now: int) -> list[int]:
    """Extend claims a live worker still holds (id → the `claimed_ms` it claimed or last renewed
    them with) to `now`, while they are that worker's: Queued with that very `claimed_ms`.
    Returns the ids renewed; the others were settled, released, or (a lease let lapse) taken
    over. A message waiting in a connection's line longer than the lease is not sent again."""
    if not claims:
        return []
    result = await conn.execute(
        update(d)
        .where(d.c.id.in_(list(claims)), _status_unindexed() == QUEUED,
               tuple_(d.c.id, d.c.claimed_ms).in_(list(claims.items())))
        .values(claimed_ms=now)
        .returning(d.c.id)
    )
    return [r[0] for r in result]


BATCH_FIELDS = (
    batches.c.id,
    batches.c.project_id,
    batches.c.service_plan_id,
    batches.c.type,
    batches.c.sender,
    batches.c.body,
    batches.c.udh,
    batches.c.parameters,
    batches.c.delivery_report,
    batches.c.callback_url,
    batches.c.client_reference,
    batches.c.expire_at_ms,
    batches.c.max_number_of_message_parts,
    batches.c.truncate_concat,
    batches.c.flash_message,
    batches.c.canceled,
    batches.c.purpose,
    batches.c.collapse_key,
    batches.c.from_ton,
    batches.c.from_npi,
    service_plans.c.callback_url.label("plan_callback_url"),
)


_LOAD_BATCHES = PreparedQuery(
    select(*BATCH_FIELDS)
    .select_from(batches.outerjoin(service_plans, service_plans.c.id == batches.c.service_plan_id))
    .where(batches.c.id.in_(bindparam("b_ids", expanding=True)))
)
"""Built once: an `in_()` over hundreds of ids built per call cost more than the query."""


async def load_batches(conn: AsyncConnection, batch_ids: Sequence[str]) -> dict[str, Row[Any]]:
    if not batch_ids:
        return {}
    return {row.id: row for row in await _LOAD_BATCHES.rows(conn, {"b_ids": list(batch_ids)})}


_SET_STATUS = (
    update(d)
    .where(d.c.id == bindparam("b_id"), d.c.status == bindparam("b_old"))
    .values(status=bindparam("b_status"), code=bindparam("b_code"), status_ms=bindparam("b_at"),
            connection=func.coalesce(bindparam("b_connection"), d.c.connection), claimed_ms=None)
)


_SET_STATUS_PREPARED = Prepared(_SET_STATUS)


async def set_statuses(conn: AsyncConnection, changes: Sequence[dict[str, Any]]) -> None:
    """Apply precomputed transitions: b_id, b_old, b_status, b_code, b_at, b_connection."""
    await _SET_STATUS_PREPARED.executemany(conn, changes)


async def fail_unclaimed(
    conn: AsyncConnection, ids: Sequence[int], status: Status, code: int | None, now: int
) -> list[Row[Any]]:
    """Move deliveries that never reached an SMSC to a final status (expired, cancelled,
    aborted); returns the rows that moved."""
    if not ids:
        return []
    result = await conn.execute(
        update(d)
        .where(d.c.id.in_(ids), _status_unindexed() == QUEUED)
        .values(status=status.value, code=DEFAULT_CODE[status] if code is None else code,
                status_ms=now, claimed_ms=None)
        .returning(d.c.id, d.c.batch_id, d.c.recipient, d.c.project_id)
    )
    return list(result)


_MARK_DISPATCHED = (
    update(d)
    .where(d.c.id == bindparam("b_id"), d.c.status == QUEUED)
    .values(status=Status.DISPATCHED.value, code=DEFAULT_CODE[Status.DISPATCHED],
            connection=bindparam("b_connection"), status_ms=bindparam("b_at"), claimed_ms=None)
)


async def mark_dispatched(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """rows: b_id, b_connection, b_at."""
    if rows:
        await conn.execute(_MARK_DISPATCHED, list(rows))


_RELEASE = (
    update(d)
    .where(d.c.id == bindparam("b_id"), d.c.status == QUEUED)
    .values(claimed_ms=None, published_ms=None, due_ms=bindparam("b_due"))
)


async def release(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Give claimed deliveries back for a later attempt (throttled, disconnected): rows b_id, b_due."""
    if rows:
        await conn.execute(_RELEASE, list(rows))


async def overdue_queued(conn: AsyncConnection, now: int, lease_ms: int, limit: int) -> list[int]:
    """Queued deliveries whose batch's expire_at has passed and that no live worker is sending."""
    query = (
        select(d.c.id)
        .select_from(d.join(batches, batches.c.id == d.c.batch_id))
        .where(IS_QUEUED, batches.c.expire_at_ms <= now,
               (d.c.claimed_ms.is_(None)) | (d.c.claimed_ms < now - lease_ms))
        .limit(limit)
    )
    return [r[0] for r in await conn.execute(query)]


FINAL_PENDING = (Status.QUEUED.value, Status.DISPATCHED.value)


async def batches_past_receipt_deadline(conn: AsyncConnection, deadline: int, limit: int) -> list[str]:
    """Batches still awaiting receipts whose expire_at is before `deadline` (now less the receipt
    wait), the longest expired first; on the partial index of open batches."""
    query = (
        select(batches.c.id)
        # A batch whose groups wait to be expanded has deliveries still to come.
        .where(batches.c.receipts_closed_ms.is_(None), batches.c.expire_at_ms < deadline,
               batches.c.expand_groups_ms.is_(None))
        .order_by(batches.c.expire_at_ms)
        .limit(limit)
    )
    return [r[0] for r in await conn.execute(query)]


async def unsettled_deliveries(
    conn: AsyncConnection, batch_ids: Sequence[str], limit: int
) -> list[tuple[int, str, str]]:
    """(id, batch id, status) of up to `limit` deliveries of these batches still Queued or Dispatched."""
    if not batch_ids:
        return []
    query = (
        select(d.c.id, d.c.batch_id, d.c.status)
        .where(d.c.batch_id.in_(list(batch_ids)), d.c.status.in_(FINAL_PENDING))
        .order_by(d.c.id)
        .limit(limit)
    )
    return [(r[0], r[1], r[2]) for r in await conn.execute(query)]


async def close_receipts(conn: AsyncConnection, batch_ids: Sequence[str], now: int) -> int:
    """Mark these batches as no longer awaiting receipts."""
    if not batch_ids:
        return 0
    result = await conn.execute(
        update(batches).where(batches.c.id.in_(list(batch_ids)), batches.c.receipts_closed_ms.is_(None))
        .values(receipts_closed_ms=now)
    )
    return int(result.rowcount or 0)


BATCH_REPORT_KINDS = ("summary", "full")


async def done_batches_awaiting_report(conn: AsyncConnection, limit: int) -> list[Row[Any]]:
    """Batches asking for a batch-level report whose every recipient is final (and none still to
    come: a batch whose groups wait for `send_at` is not done)."""
    pending = select(d.c.id).where(d.c.batch_id == batches.c.id, d.c.status.in_(FINAL_PENDING)).exists()
    query = (
        select(*BATCH_FIELDS, batches.c.recipient_count)
        .select_from(batches.outerjoin(service_plans, service_plans.c.id == batches.c.service_plan_id))
        .where(batches.c.delivery_report.in_(BATCH_REPORT_KINDS), batches.c.report_queued_ms.is_(None), ~pending,
               batches.c.expand_groups_ms.is_(None))
        .limit(limit)
    )
    return list(await conn.execute(query))


async def status_counts(
    conn: AsyncConnection, batch_id: str, with_recipients: bool
) -> list[tuple[str, int, int, list[str]]]:
    """(status, code, count, recipients) per status and code of a batch; recipients only if asked."""
    if not with_recipients:
        query = (
            select(d.c.status, d.c.code, func.count())
            .where(d.c.batch_id == batch_id)
            .group_by(d.c.status, d.c.code)
            .order_by(d.c.status, d.c.code)
        )
        return [(r[0], r[1], r[2], []) for r in await conn.execute(query)]
    groups: dict[tuple[str, int], list[str]] = {}
    query = select(d.c.status, d.c.code, d.c.recipient).where(d.c.batch_id == batch_id).order_by(d.c.id)
    for status, code, recipient in await conn.execute(query):
        groups.setdefault((status, code), []).append(recipient)
    return [(s, c, len(r), r) for (s, c), r in sorted(groups.items())]


async def mark_reported(conn: AsyncConnection, batch_id: str, now: int) -> bool:
    result = await conn.execute(
        update(batches)
        .where(batches.c.id == batch_id, batches.c.report_queued_ms.is_(None))
        .values(report_queued_ms=now)
    )
    return bool(result.rowcount)
