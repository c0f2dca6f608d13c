"""Queries of the sender ID registry: a project's senders with their registrations, its policy."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.policy.sender_ids import RegisteredSender, SenderPolicy
from tidings.store.routing_schema import sender_policies, sender_registrations, senders

__all__ = ["find_sender", "list_senders", "load_policy", "load_registry"]


async def list_senders(conn: AsyncConnection, project_id: str, address: str | None = None) -> list[dict[str, Any]]:
    """Senders of the project (or the one with `address`), each with `registrations`."""
    s, r = senders, sender_registrations
    query = select(s).where(s.c.project_id == project_id).order_by(s.c.address)
    if address is not None:
        query = query.where(s.c.address == address)
    rows = list(await conn.execute(query))
    regs: dict[str, list[Row[Any]]] = {}
    if rows:
        for reg in await conn.execute(select(r).where(r.c.sender_id.in_([x.id for x in rows]))):
            regs.setdefault(reg.sender_id, []).append(reg)
    return [
        {"id": x.id, "address": x.address, "kind": x.kind, "created_ms": x.created_ms,
         "modified_ms": x.modified_ms,
         "registrations": {g.country: {"status": g.status, "reference": g.reference, "updated_ms": g.updated_ms}
                           for g in sorted(regs.get(x.id, []), key=lambda g: g.country)}}
        for x in rows
    ]


async def find_sender(conn: AsyncConnection, project_id: str, address: str) -> dict[str, Any] | None:
    found = await list_senders(conn, project_id, address)
    return found[0] if found else None


async def load_policy(conn: AsyncConnection, project_id: str) -> SenderPolicy:
    p = sender_policies
    row = (await conn.execute(select(p).where(p.c.project_id == project_id))).first()
    return SenderPolicy(row.mode, dict(row.defaults or {})) if row is not None else SenderPolicy()


async def load_registry(conn: AsyncConnection, project_id: str) -> dict[str, RegisteredSender]:
    return {
        x["address"]: RegisteredSender(x["address"], x["kind"],
                                       {c: v["status"] for c, v in x["registrations"].items()})
        for x in await list_senders(conn, project_id)
    }
