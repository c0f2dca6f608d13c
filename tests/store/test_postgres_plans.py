"""PostgreSQL's generic-plan trap, and the lookups by SMSC message id kept out of it.

The hot statements are prepared once per connection (asyncpg's statement cache), and after five
runs PostgreSQL may settle on a generic plan, made for the table as it was then. The receipt
lookup (`connection = $1 AND smsc_message_id = ANY($2)`, a flush's ~57 ids) prepared while
`submissions` held a few hundred rows kept such a plan as the table grew — the key searched by the
connection alone, every row of it filtered against the ids, ~30 ms at 20,000 rows — and the
distributed worker took receipts at a third of its rate. `find_submissions` now runs inside
`planned_for_parameters` (custom plans for that statement only: for every statement they cost
replies a quarter of their rate), and the key puts the message id first (revision 0020), so a
plan made for the ids searches the key by them even before the table has statistics. The
other lookups of the kind, an MO's de-duplication in `inbounds` (41 ms per flush at 50,000
replies stored) and the early receipts in `orphan_receipts`, had the same trap; they get the same
two fixes (revision 0021). The parts of long replies (`mo_parts`) can meet it on a new table too,
until autovacuum's first ANALYZE; they keep PostgreSQL's plan cache (`tidings/store/mo_parts.py`
says why).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from tidings.store import inbound as iq
from tidings.store import receipts as rq
from tidings.store.db import Database
from tidings.store.prepared import planned_for_parameters
from tidings.store.schema import metadata

LOOKUP = "SELECT * FROM submissions WHERE connection = $1 AND smsc_message_id = ANY($2::varchar[])"
IDS = [f"id{n}" for n in range(1, 58)]
FILL = ("INSERT INTO submissions (connection, smsc_message_id, delivery_id, part, parts, status, code, "
        "submitted_ms) SELECT 'sandbox', 'id' || n, n, 1, 1, 'Dispatched', 0, 0 "
        "FROM generate_series($1::int, $2::int) n")
ARRAY = "ARRAY[" + ", ".join(f"'{i}'" for i in IDS) + "]::varchar[]"


async def statement_prepared_on_a_small_table(driver: Any, fill: str = FILL, lookup: str = LOOKUP) -> Any:
    """The lookup, prepared and run eight times while the table held 300 rows; then 20,000."""
    await driver.execute(fill, 1, 300)
    statement = await driver.prepare(lookup)
    for _ in range(8):  # past the five runs after which a generic plan may be chosen
        await statement.fetch("sandbox", IDS)
    await driver.execute(fill, 301, 20000)
    return statement


async def plan_of(driver: Any, statement: Any) -> str:
    rows = await driver.fetch(f"EXPLAIN EXECUTE {statement.get_name()}('sandbox', {ARRAY})")
    return "\n".join(row[0] for row in rows)


async def generic_plan_of(driver: Any, statement: Any) -> str:
    """The generic plan PostgreSQL may settle on after five runs. Whether it does is its own cost
    estimate (an autovacuum ANALYZE in between can tip it), so the test asks for it outright."""
    await driver.execute("SET plan_cache_mode = force_generic_plan")
    try:
        return await plan_of(driver, statement)
    finally:
        await driver.execute("RESET plan_cache_mode")


async def test_the_lookup_is_planned_for_its_ids_however_long_ago_it_was_prepared(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        async with db.engine.connect() as conn:
            await conn.run_sync(metadata.drop_all)
            await conn.run_sync(metadata.create_all)
            await conn.commit()
            driver = (await conn.get_raw_connection()).driver_connection
            statement = await statement_prepared_on_a_small_table(driver)
            # The generic plan made for 300 rows, run on 20,000.
            generic = await generic_plan_of(driver, statement)
            assert "$1" in generic and "'sandbox'" not in generic, generic
            async with planned_for_parameters(conn):
                custom = await plan_of(driver, statement)
            # Planned for the values given, the key searched by the ids (revision 0020).
            assert "'sandbox'" in custom and "Index Cond: (((smsc_message_id)::text = ANY" in custom, custom
            # Only inside: the rest of the transaction plans as PostgreSQL would.
            assert (await conn.execute(text("SHOW plan_cache_mode"))).scalar() == "auto"
            found = await rq.find_submissions(conn, [("sandbox", i) for i in IDS[:3]])
            assert sorted(found) == [("sandbox", "id1"), ("sandbox", "id2"), ("sandbox", "id3")]
            await conn.rollback()
    finally:
        await db.aclose()


async def test_find_submissions_plans_for_its_ids_inside_its_own_transaction(postgres_url: str) -> None:
    """The setting lasts for the lookup only, within the caller's transaction."""
    db = Database(postgres_url)
    seen: list[str] = []
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
            await conn.run_sync(metadata.create_all)
        async with db.write() as conn:
            async with planned_for_parameters(conn):
                seen.append((await conn.execute(text("SHOW plan_cache_mode"))).scalar())
            seen.append((await conn.execute(text("SHOW plan_cache_mode"))).scalar())
    finally:
        await db.aclose()
    assert seen == ["force_custom_plan", "auto"]


# The same trap in the other lookups by SMSC message id (revision 0021): an MO's de-duplication
# in `inbounds`, a receipt that came before its submission in `orphan_receipts`.
OTHER_LOOKUPS = {
    "inbounds": "INSERT INTO inbounds (id, type, sender, recipient, body, received_ms, connection, smsc_message_id) "
                "SELECT 'in' || n, 'mo_text', '+14155550100', '12345', 'hi', n, 'sandbox', 'id' || n "
                "FROM generate_series($1::int, $2::int) n",
    "orphan_receipts": "INSERT INTO orphan_receipts (connection, smsc_message_id, status, code, received_ms) "
                       "SELECT 'sandbox', 'id' || n, 'Delivered', 0, n FROM generate_series($1::int, $2::int) n",
}


@pytest.mark.parametrize("table", sorted(OTHER_LOOKUPS))
async def test_the_other_lookups_by_message_id_are_planned_for_their_ids(postgres_url: str, table: str) -> None:
    db = Database(postgres_url)
    try:
        async with db.engine.connect() as conn:
            await conn.run_sync(metadata.drop_all)
            await conn.run_sync(metadata.create_all)
            await conn.commit()
            driver = (await conn.get_raw_connection()).driver_connection
            statement = await statement_prepared_on_a_small_table(
                driver, OTHER_LOOKUPS[table], LOOKUP.replace("submissions", table))
            generic = await generic_plan_of(driver, statement)
            assert "$1" in generic and "'sandbox'" not in generic, generic
            async with planned_for_parameters(conn):
                custom = await plan_of(driver, statement)
            assert "Index Cond: (((smsc_message_id)::text = ANY" in custom, custom
            await conn.rollback()
    finally:
        await db.aclose()


class Spy:
    """Stands for a prepared query and notes the planning setting each run of it had."""

    def __init__(self, query: Any, seen: list[str]) -> None:
        self.query, self.seen = query, seen

    async def rows(self, conn: Any, params: Any) -> list[Any]:
        self.seen.append((await conn.execute(text("SHOW plan_cache_mode"))).scalar())
        return list(await self.query.rows(conn, params))


async def test_the_lookups_by_message_id_run_with_custom_plans(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each lookup alone, and nested as the outcome writer runs them (the setting outlives the
    inner block, and ends with the outer one)."""
    seen: list[str] = []
    for module, name in ((rq, "_FIND_SUBMISSIONS"), (rq, "_TAKE_ORPHANS"), (iq, "_EXISTING_KEYS")):
        monkeypatch.setattr(module, name, Spy(getattr(module, name), seen))
    db = Database(postgres_url)
    keys = [("sandbox", "id1"), ("sandbox", "id2")]
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
            await conn.run_sync(metadata.create_all)
        async with db.write() as conn:
            await rq.find_submissions(conn, keys)
            await rq.take_orphans(conn, keys)
            await iq.existing_keys(conn, keys)
            assert seen == ["force_custom_plan"] * 3
            async with planned_for_parameters(conn):
                await rq.take_orphans(conn, keys)
                await rq.find_submissions(conn, keys)
                await iq.existing_keys(conn, keys)
                seen.append((await conn.execute(text("SHOW plan_cache_mode"))).scalar())
            seen.append((await conn.execute(text("SHOW plan_cache_mode"))).scalar())
    finally:
        await db.aclose()
    assert seen == ["force_custom_plan"] * 7 + ["auto"]
