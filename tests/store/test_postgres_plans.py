"""PostgreSQL's generic-plan trap, and the receipt lookup kept out of it.

The hot statements are prepared once per connection (asyncpg's statement cache), and after five
runs PostgreSQL may settle on a generic plan, made for the table as it was then. The receipt
lookup (`connection = $1 AND smsc_message_id = ANY($2)`, a flush's ~57 ids) prepared while
`submissions` held a few hundred rows kept such a plan as the table grew — the key searched by the
connection alone, every row of it filtered against the ids, ~30 ms at 20,000 rows — and the
distributed worker took receipts at a third of its rate. `find_submissions` now runs inside
`planned_for_parameters` (custom plans for that statement only: for every statement they cost
replies a quarter of their rate), and the key puts the message id first (revision 0020), so a
plan made for the ids searches the key by them even before the table has statistics.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

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


async def statement_prepared_on_a_small_table(driver: Any) -> Any:
    """The lookup, prepared and run eight times while the table held 300 rows; then 20,000."""
    await driver.execute(FILL, 1, 300)
    statement = await driver.prepare(LOOKUP)
    for _ in range(8):  # past the five runs after which a generic plan may be chosen
        await statement.fetch("sandbox", IDS)
    await driver.execute(FILL, 301, 20000)
    return statement


async def plan_of(driver: Any, statement: Any) -> str:
    rows = await driver.fetch(f"EXPLAIN EXECUTE {statement.get_name()}('sandbox', {ARRAY})")
    return "\n".join(row[0] for row in rows)


async def test_the_lookup_is_planned_for_its_ids_however_long_ago_it_was_prepared(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        async with db.engine.connect() as conn:
            await conn.run_sync(metadata.drop_all)
            await conn.run_sync(metadata.create_all)
            await conn.commit()
            driver = (await conn.get_raw_connection()).driver_connection
            statement = await statement_prepared_on_a_small_table(driver)
            # PostgreSQL's default: the generic plan made for 300 rows, run on 20,000.
            generic = await plan_of(driver, statement)
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
