"""PostgreSQL plans every statement for its parameters (`plan_cache_mode = force_custom_plan`).

The hot statements are prepared once per connection (asyncpg's statement cache), and after five
runs PostgreSQL may settle on a generic plan, chosen for the table as it was then. A receipt
lookup (`connection = $1 AND smsc_message_id = ANY($2)`, a flush's ~57 ids) prepared while
`submissions` held a few hundred rows kept that plan as the table grew — reading every row of
the connection and filtering them against the ids, ~30 ms at 20,000 rows — and the distributed
worker took receipts at a third of its rate. Planned for its parameters, the same lookup still read
the whole connection while the table had no statistics yet, until the key put the message id
first (revision 0020).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tidings.store.db import Database
from tidings.store.schema import metadata

LOOKUP = "SELECT * FROM submissions WHERE connection = $1 AND smsc_message_id = ANY($2::varchar[])"
IDS = [f"id{n}" for n in range(1, 58)]
FILL = ("INSERT INTO submissions (connection, smsc_message_id, delivery_id, part, parts, status, code, "
        "submitted_ms) SELECT 'sandbox', 'id' || n, n, 1, 1, 'Dispatched', 0, 0 "
        "FROM generate_series($1::int, $2::int) n")


async def plan_once_the_table_filled(driver: Any) -> str:
    """The plan a lookup prepared while the table held 300 rows runs with at 20,000."""
    await driver.execute("DELETE FROM submissions")
    await driver.execute(FILL, 1, 300)
    statement = await driver.prepare(LOOKUP)
    for _ in range(8):  # past the five runs after which a generic plan may be chosen
        await statement.fetch("sandbox", IDS)
    await driver.execute(FILL, 301, 20000)
    array = "ARRAY[" + ", ".join(f"'{i}'" for i in IDS) + "]::varchar[]"
    rows = await driver.fetch(f"EXPLAIN EXECUTE {statement.get_name()}('sandbox', {array})")
    return "\n".join(row[0] for row in rows)


async def test_a_statement_prepared_on_a_small_table_is_planned_again_for_the_grown_one(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        async with db.engine.connect() as conn:
            await conn.run_sync(metadata.drop_all)
            await conn.run_sync(metadata.create_all)
            await conn.commit()
            assert (await conn.execute(text("SHOW plan_cache_mode"))).scalar() == "force_custom_plan"
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            # Planned with the values given (the literal connection, not a parameter), and the
            # key searched by the message ids (revision 0020), statistics or not.
            custom = await plan_once_the_table_filled(driver)
            assert "'sandbox'" in custom, custom
            assert "Index Cond: (((smsc_message_id)::text = ANY" in custom, custom
            # PostgreSQL's default: the generic plan made for 300 rows, run on 20,000.
            await driver.execute("SET plan_cache_mode = auto")
            generic = await plan_once_the_table_filled(driver)
            assert "$1" in generic and "'sandbox'" not in generic, generic
    finally:
        await db.aclose()
