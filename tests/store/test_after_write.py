"""`Database.after_write` hooks run once a write transaction has committed, never for one rolled
back."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from tidings.store import schema
from tidings.store.db import Database


async def test_hooks_run_after_each_commit_and_not_after_a_rollback(any_db: Database) -> None:
    calls: list[str] = []

    def hook() -> None:
        calls.append("written")

    any_db.after_write.append(hook)
    async with any_db.write() as conn:
        await conn.execute(insert(schema.projects).values(id="p-kept", name="kept", webhook_secret="s",
                                                          created_ms=1))
        assert calls == []  # not before the commit
    assert calls == ["written"]
    with pytest.raises(RuntimeError):
        async with any_db.write() as conn:
            await conn.execute(insert(schema.projects).values(id="p-gone", name="gone", webhook_secret="s",
                                                              created_ms=1))
            raise RuntimeError("rolled back")
    assert calls == ["written"]
    async with any_db.read() as conn:
        assert list((await conn.execute(select(schema.projects.c.id))).scalars()) == ["p-kept"]
    any_db.after_write.remove(hook)
    async with any_db.write(priority=True) as conn:
        await conn.execute(select(schema.projects.c.id))
    assert calls == ["written"]


async def test_a_failing_hook_is_logged_and_the_committed_write_does_not_raise(
    any_db: Database, caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    def broken() -> None:
        raise RuntimeError("hook broke")

    any_db.after_write.extend([broken, lambda: calls.append("next")])
    async with any_db.write() as conn:  # a caller would retry a write that raised: it must not
        await conn.execute(insert(schema.projects).values(id="p-once", name="once", webhook_secret="s",
                                                          created_ms=1))
    assert calls == ["next"] and "hook after a committed write failed" in caplog.text
    async with any_db.read() as conn:
        assert list((await conn.execute(select(schema.projects.c.id))).scalars()) == ["p-once"]
