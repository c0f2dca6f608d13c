"""Revision 0028 on SQLite and PostgreSQL: the identities there were keep their rows as app-less
ones, the key takes app_id (one identity string per app), and down again keeps one row per old
key."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.store.test_migrations import down_and_up_again, empty_url, execute, fresh_postgres_url  # noqa: F401
from tidings.store.migrate import async_url, downgrade, upgrade


async def test_identities_get_app_id_in_their_key(empty_url: str) -> None:  # noqa: F811
    await upgrade(empty_url, "0027")
    await execute(empty_url, "INSERT INTO conv_identities (project_id, channel, identity, contact_id, position) "
                             "VALUES ('p', 'MESSENGER', 'psid', 'c1', 0)")
    await down_and_up_again(empty_url, "0027")
    await execute(empty_url, "INSERT INTO conv_identities (project_id, channel, identity, app_id, contact_id, "
                             "position) VALUES ('p', 'MESSENGER', 'psid', 'A', 'c2', 0)")
    engine = create_async_engine(async_url(empty_url))
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT app_id, contact_id FROM conv_identities ORDER BY app_id"))).all()
            key = await conn.run_sync(lambda c: inspect(c).get_pk_constraint("conv_identities"))
            with pytest.raises(Exception, match="(?i)unique|duplicate"):
                await conn.execute(text("INSERT INTO conv_identities (project_id, channel, identity, app_id, "
                                        "contact_id, position) VALUES ('p', 'MESSENGER', 'psid', 'A', 'c3', 0)"))
    finally:
        await engine.dispose()
    assert [tuple(r) for r in rows] == [("", "c1"), ("A", "c2")]
    assert key["constrained_columns"] == ["project_id", "channel", "identity", "app_id"]
    await downgrade(empty_url, "0027")
    engine = create_async_engine(async_url(empty_url))
    try:
        async with engine.connect() as conn:
            kept = (await conn.execute(text("SELECT contact_id FROM conv_identities"))).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in kept] == [("c1",)]
