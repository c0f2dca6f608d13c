from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tidings.actions.projects import do_create_project
from tidings.store import schema
from tidings.store.db import Database
from tidings.store.group_commit import GroupCommitter


def _batch(batch_id: str, project_id: str, key: str | None = None) -> dict[str, object]:
    return dict(
        id=batch_id, project_id=project_id, service_plan_id=None, type="mt_text", sender="12345",
        body="hi", parameters=None, delivery_report="none", callback_url=None, client_reference=None,
        send_at_ms=None, expire_at_ms=10**13, max_number_of_message_parts=None, truncate_concat=None,
        flash_message=False, feedback_enabled=False, canceled=False, recipient_count=1,
        created_ms=1, modified_ms=1, report_queued_ms=None, idempotency_key=key, request_hash=None,
    )


def _delivery(batch_id: str, project_id: str, recipient: str) -> dict[str, object]:
    return dict(
        batch_id=batch_id, project_id=project_id, recipient=recipient, status="Queued", code=400,
        encoding="GSM", segments=1, due_ms=1, claimed_ms=None, attempts=0, status_ms=1, created_ms=1,
    )


async def test_concurrent_units_share_transactions_and_get_their_own_ids(any_db: Database) -> None:
    project = await do_create_project(any_db, "p", 1)
    committer = GroupCommitter(any_db)

    async def one(i: int) -> list[int]:
        bid = f"B{i:05d}"
        rows = [_delivery(bid, project.project_id, f"+4670000{i:04d}{j}") for j in range(3)]
        result = await committer.insert(
            [(schema.batches, [_batch(bid, project.project_id)]), (schema.deliveries, rows)],
            returning=frozenset({"deliveries"}),
        )
        return result["deliveries"]

    id_lists = await asyncio.gather(*(one(i) for i in range(200)))
    await committer.aclose()
    assert committer.transactions < 200  # requests were grouped
    assert all(len(ids) == 3 for ids in id_lists)
    assert len({i for ids in id_lists for i in ids}) == 600
    async with any_db.read() as conn:
        rows = (await conn.execute(select(schema.deliveries.c.id, schema.deliveries.c.batch_id))).all()
    owner = {r.id: r.batch_id for r in rows}
    for i, ids in enumerate(id_lists):
        assert {owner[d] for d in ids} == {f"B{i:05d}"}


async def test_a_failing_unit_does_not_fail_its_neighbours(any_db: Database) -> None:
    project = await do_create_project(any_db, "p", 1)
    committer = GroupCommitter(any_db)
    await committer.insert([(schema.batches, [_batch("DUP", project.project_id, key="k1")])])

    results = await asyncio.gather(
        committer.insert([(schema.batches, [_batch("OK1", project.project_id)])]),
        committer.insert([(schema.batches, [_batch("BAD", project.project_id, key="k1")])]),
        committer.insert([(schema.batches, [_batch("OK2", project.project_id)])]),
        return_exceptions=True,
    )
    await committer.aclose()
    assert isinstance(results[1], IntegrityError)
    assert results[0] == {} and results[2] == {}
    async with any_db.read() as conn:
        ids = set((await conn.execute(select(schema.batches.c.id))).scalars())
        count = (await conn.execute(select(func.count()).select_from(schema.batches))).scalar_one()
    assert ids == {"DUP", "OK1", "OK2"} and count == 3


@pytest.mark.parametrize("n", [1])
async def test_project_secrets_are_stored_only_as_hashes(any_db: Database, n: int) -> None:
    creds = await do_create_project(any_db, "p", 1)
    async with any_db.read() as conn:
        key = (await conn.execute(select(schema.access_keys))).one()
        plan = (await conn.execute(select(schema.service_plans))).one()
    assert creds.key_secret not in key.secret_hash and len(key.secret_hash) == 64
    assert creds.api_token not in plan.token_hash


async def test_new_ids_follow_rows_written_outside_the_committer(any_db: Database) -> None:
    project = await do_create_project(any_db, "p", 1)
    committer = GroupCommitter(any_db)
    await committer.insert([(schema.batches, [_batch("B0", project.project_id)])])
    async with any_db.write() as conn:
        await conn.execute(schema.deliveries.insert(), [{**_delivery("B0", project.project_id, "+46700000001"), "id": 500}])

    async def one(i: int, key: str | None = None) -> list[int]:
        bid = f"B{i}"
        rows = [_delivery(bid, project.project_id, f"+4670000{i:04d}{j}") for j in range(2)]
        result = await committer.insert(
            [(schema.batches, [_batch(bid, project.project_id, key)]), (schema.deliveries, rows)],
            returning=frozenset({"deliveries"}),
        )
        return result["deliveries"]

    # A colliding idempotency key in the group makes every unit retry alone: ids stay right.
    await one(1, key="same")
    results = await asyncio.gather(one(2), one(3, key="same"), one(4), return_exceptions=True)
    await committer.aclose()
    assert isinstance(results[1], IntegrityError)
    ids = [i for r in (results[0], results[2]) for i in r]  # type: ignore[union-attr]
    assert 500 not in ids and len(set(ids)) == 4
    if any_db.is_sqlite:  # ids are assigned from the current maximum under the write lock
        assert sorted(ids) == [503, 504, 505, 506]  # B1 took 501, 502
    async with any_db.read() as conn:
        rows = (await conn.execute(select(schema.deliveries.c.id, schema.deliveries.c.batch_id))).all()
    owner = {r.id: r.batch_id for r in rows}
    assert [owner[i] for i in results[0]] == ["B2", "B2"]  # type: ignore[union-attr]
    assert [owner[i] for i in results[2]] == ["B4", "B4"]  # type: ignore[union-attr]
    assert len(rows) == 7


async def test_columns_left_out_take_their_defaults_and_values_keep_their_types(any_db: Database) -> None:
    """On SQLite the committer's inserts are prepared once per set of columns: what SQLAlchemy
    would fill in (scalar defaults) and convert (JSON, booleans) must come out the same."""
    project = await do_create_project(any_db, "p", 1)
    committer = GroupCommitter(any_db)
    batch = _batch("BJSON", project.project_id)
    batch["parameters"] = {"name": {"+46700000001": "Ann", "default": "you"}}
    del batch["canceled"], batch["flash_message"]  # both default to False
    plain = _delivery("BJSON", project.project_id, "+46700000001")
    other_columns = {**_delivery("BJSON", project.project_id, "+46700000002"), "priority": True}
    result = await committer.insert([(schema.batches, [batch]), (schema.deliveries, [plain, other_columns])],
                                    returning=frozenset({"deliveries"}))
    await committer.aclose()
    async with any_db.read() as conn:
        row = (await conn.execute(select(schema.batches).where(schema.batches.c.id == "BJSON"))).one()
        priorities = dict((await conn.execute(
            select(schema.deliveries.c.id, schema.deliveries.c.priority)
            .where(schema.deliveries.c.batch_id == "BJSON"))).all())
    assert row.parameters == {"name": {"+46700000001": "Ann", "default": "you"}}
    assert row.canceled is False and row.flash_message is False
    assert priorities == dict(zip(result["deliveries"], [False, True], strict=True))


async def test_a_stop_during_a_commit_answers_its_callers(any_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The transaction under way when the committer stops is committed and its callers answered,
    not cancelled with them waiting."""
    from tidings.store import group_commit

    project = await do_create_project(any_db, "p", 1)
    began = asyncio.Event()
    insert_units = group_commit._insert_units

    async def slow(conn: object, units: list[group_commit.InsertUnit]) -> list[dict[str, list[int]]]:
        began.set()
        await asyncio.sleep(0.3)
        return await insert_units(conn, units)  # type: ignore[arg-type]

    monkeypatch.setattr(group_commit, "_insert_units", slow)
    committer = GroupCommitter(any_db)
    call = asyncio.create_task(committer.insert([(schema.batches, [_batch("SLOW", project.project_id)])]))
    await asyncio.wait_for(began.wait(), 5.0)
    await committer.aclose()
    assert await asyncio.wait_for(call, 1.0) == {}
    async with any_db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(schema.batches))).scalar_one() == 1
