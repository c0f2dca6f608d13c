"""Credential lookups (access keys, service plans) and the server's signing key."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.store.db import Database
from tidings.store.schema import access_keys, server_keys, service_plans


async def access_key(conn: AsyncConnection, key_id: str) -> Row[Any, Any] | None:
    result = await conn.execute(
        select(access_keys.c.project_id, access_keys.c.secret_hash).where(access_keys.c.key_id == key_id)
    )
    return result.first()


async def service_plan_by_token_hash(conn: AsyncConnection, token_hash: str) -> Row[Any, Any] | None:
    result = await conn.execute(
        select(service_plans.c.id, service_plans.c.project_id).where(service_plans.c.token_hash == token_hash)
    )
    return result.first()


async def service_plan_project(conn: AsyncConnection, plan_id: str) -> str | None:
    result = await conn.execute(select(service_plans.c.project_id).where(service_plans.c.id == plan_id))
    return result.scalar()


async def get_or_create_server_key(db: Database, key_id: str, new_secret: str, now_ms: int) -> str:
    """The named key; the first process to ask creates it, every other one reads that one."""
    async with db.read() as conn:
        found = (await conn.execute(select(server_keys.c.secret).where(server_keys.c.id == key_id))).scalar()
    if found is not None:
        return str(found)
    try:
        async with db.write() as conn:
            await conn.execute(insert(server_keys).values(id=key_id, secret=new_secret, created_ms=now_ms))
        return new_secret
    except IntegrityError:
        async with db.read() as conn:
            found = (await conn.execute(select(server_keys.c.secret).where(server_keys.c.id == key_id))).scalar()
        if found is None:  # pragma: no cover - the conflicting row cannot vanish
            raise
        return str(found)
