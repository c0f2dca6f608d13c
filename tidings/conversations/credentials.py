"""An app's channel credentials entry for one channel, as stored (Sinch's array form)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.store.conversation_schema import conv_apps

__all__ = ["credentials_for"]

_CREDENTIALS = select(conv_apps.c.channel_credentials).where(conv_apps.c.id == bindparam("app_id_"))  # built once


async def credentials_for(conn: AsyncConnection, app_id: str, channel: str) -> dict[str, Any] | None:
    row = (await conn.execute(_CREDENTIALS, {"app_id_": app_id})).first()
    if row is None:
        return None
    for entry in row.channel_credentials or []:
        if entry.get("channel") == channel:
            return dict(entry)
    return None
