"""Queries of the send policy gate: settings, the caps ledger, decisions, and what the SMS
dispatcher needs to know about a batch (purpose, collapse key, body). Each is one statement for
a whole dispatch batch."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Row, bindparam, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.core.statuses import Status
from tidings.store.conversation_schema import conv_messages
from tidings.store.policy_schema import policy_decisions, policy_sends, policy_settings
from tidings.store.retention import delete_oldest_before
from tidings.store.schema import deliveries

__all__ = [
    "conversation_messages_exist",
    "defer_deliveries",
    "insert_decisions",
    "insert_sends",
    "lock_contacts",
    "purge_sends",
    "recent_sends",
    "settings_of",
    "upsert_settings",
]


async def settings_of(conn: AsyncConnection, project_ids: Sequence[str]) -> dict[str, Any]:
    if not project_ids:
        return {}
    rows = await conn.execute(select(policy_settings.c.project_id, policy_settings.c.settings)
                              .where(policy_settings.c.project_id.in_(project_ids)))
    return {r.project_id: r.settings for r in rows}


async def upsert_settings(conn: AsyncConnection, project_id: str, settings: dict[str, Any], now: int) -> None:
    done = await conn.execute(update(policy_settings).where(policy_settings.c.project_id == project_id)
                              .values(settings=settings, updated_ms=now))
    if not done.rowcount:
        await conn.execute(insert(policy_settings).values(project_id=project_id, settings=settings,
                                                          updated_ms=now))


async def lock_contacts(conn: AsyncConnection, keys: Iterable[str]) -> None:
    """Serialise gate decisions on the same contacts across workers (PostgreSQL; SQLite already
    has one writer at a time): transaction-scoped advisory locks, taken in a fixed order."""
    ordered = sorted(set(keys))
    if not ordered or conn.dialect.name != "postgresql":
        return
    await conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(k)) FROM "
             "(SELECT k FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k) AS s"),
        {"keys": ordered},
    )


async def recent_sends(conn: AsyncConnection, project_ids: Sequence[str], keys: Sequence[str],
                       since_ms: int) -> list[Row[Any]]:
    """Ledger rows of these contacts sent after `since_ms`."""
    if not keys:
        return []
    s = policy_sends.c
    query = select(s.project_id, s.contact_key, s.ref, s.purpose, s.collapse_key, s.sent_ms).where(
        s.project_id.in_(sorted(set(project_ids))), s.contact_key.in_(sorted(set(keys))),
        s.sent_ms > since_ms)
    return list(await conn.execute(query))


async def purge_sends(conn: AsyncConnection, sent_before: int, limit: int) -> int:
    """Forget ledger rows sent before `sent_before`, the oldest by id first (`delete_oldest_before`)."""
    return await delete_oldest_before(conn, policy_sends, policy_sends.c.id, policy_sends.c.sent_ms, sent_before,
                                      limit)


async def purge_decisions(conn: AsyncConnection, made_before: int, limit: int) -> int:
    """Forget refusals and deferrals made before `made_before`, the oldest by id first."""
    return await delete_oldest_before(conn, policy_decisions, policy_decisions.c.id, policy_decisions.c.at_ms,
                                      made_before, limit)


async def insert_sends(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(policy_sends), list(rows))


async def insert_decisions(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(policy_decisions), list(rows))


async def conversation_messages_exist(conn: AsyncConnection, project_id_by_message: dict[str, str]) -> set[str]:
    """Which of these Conversation message ids exist in the project named for each."""
    if not project_id_by_message:
        return set()
    rows = await conn.execute(select(conv_messages.c.id, conv_messages.c.project_id)
                              .where(conv_messages.c.id.in_(list(project_id_by_message))))
    return {r.id for r in rows if project_id_by_message.get(r.id) == r.project_id}


_DEFER = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("b_id"), deliveries.c.status == Status.QUEUED.value)
    .values(due_ms=bindparam("b_due"), code=bindparam("b_code"), published_ms=None, claimed_ms=None)
)


async def defer_deliveries(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Queued deliveries back to wait until b_due, showing b_code (the deferral's reason)."""
    if rows:
        await conn.execute(_DEFER, list(rows))
