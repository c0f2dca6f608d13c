"""Prepared statements run straight on sqlite3 in the embedded profile, through SQLAlchemy elsewhere."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tidings.core.statuses import Status
from tidings.store import receipts as rq
from tidings.store.db import Database
from tidings.store.schema import submissions


def _part(smsc_id: str, delivery_id: int, part: int = 1) -> dict[str, Any]:
    return {"connection": "c1", "smsc_message_id": smsc_id, "delivery_id": delivery_id, "part": part,
            "parts": 2, "status": Status.DISPATCHED.value, "code": 0, "submitted_ms": 1_000}


async def test_submissions_insert_and_update_in_the_callers_transaction(any_db: Database) -> None:
    async with any_db.write() as conn:
        await rq.insert_submissions(conn, [_part("a", 7), _part("b", 7, 2)])
        await rq.set_part_statuses(conn, [{"b_connection": "c1", "b_id": "b", "b_status": "Delivered",
                                           "b_code": 0}])
        await rq.insert_submissions(conn, [])
    async with any_db.read() as conn:
        rows = {r.smsc_message_id: r for r in await conn.execute(select(submissions))}
    assert {k: (r.delivery_id, r.part, r.status) for k, r in rows.items()} == {
        "a": (7, 1, "Dispatched"), "b": (7, 2, "Delivered")}

    with pytest.raises(RuntimeError):
        async with any_db.write() as conn:
            await rq.insert_submissions(conn, [_part("c", 8)])
            raise RuntimeError("rolled back")
    async with any_db.read() as conn:
        assert len(list(await conn.execute(select(submissions)))) == 2  # "c" went with its transaction


async def test_a_missing_required_value_is_refused(any_db: Database) -> None:
    incomplete = _part("x", 9)
    del incomplete["delivery_id"]
    with pytest.raises(Exception):  # noqa: B017 - KeyError on SQLite, StatementError elsewhere
        async with any_db.write() as conn:
            await rq.insert_submissions(conn, [incomplete])
