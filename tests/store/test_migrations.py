"""Alembic migrations: they build `schema.py` exactly, on SQLite and on PostgreSQL.

`test_upgrade_matches_schema` is the drift alarm: change `schema.py` without a revision (or a
revision without `schema.py`) and it lists the differences. Generate the missing revision with
`python -m tidings.store.migrate revision "what changed"`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from tidings.cli import main as cli_main
from tidings.store.migrate import (
    MigrationError,
    alembic_config,
    async_url,
    current_revision,
    downgrade,
    head_revision,
    schema_diff,
    upgrade,
    upgrade_sync,
)
from tidings.store.schema import metadata

from ..conftest import fresh_database


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """An empty PostgreSQL database of its own, dropped afterwards."""
    with fresh_database("tidings_migrate") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/tidings.db"
    return str(request.getfixturevalue("fresh_postgres_url"))


async def inspect_db(url: str) -> tuple[list[Any], set[str]]:
    """(differences from schema.py, table names) of the database at `url`."""
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as conn:
            diffs = await conn.run_sync(schema_diff)
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    return diffs, tables


async def execute(url: str, *statements: str) -> None:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.begin() as conn:
            for sql in statements:
                await conn.execute(text(sql))
    finally:
        await engine.dispose()


async def test_upgrade_matches_schema(empty_url: str) -> None:
    assert await current_revision(empty_url) is None
    await upgrade(empty_url)
    diffs, tables = await inspect_db(empty_url)
    assert diffs == [], "migrations and tidings/store/schema.py disagree; add a revision"
    assert tables == set(metadata.tables) | {"alembic_version"}
    assert await current_revision(empty_url) == head_revision()


async def down_and_up_again(url: str, below: str) -> None:
    """Upgrade to the head, down to `below`, and up to the head again."""
    await upgrade(url)
    await downgrade(url, below)
    await upgrade(url)


async def test_submissions_are_keyed_by_message_id_first(empty_url: str) -> None:
    """Revision 0020 (the comparison above does not look at a key's column order) keeps the rows
    there were, down and up again."""
    await upgrade(empty_url, "0019")
    await execute(empty_url, "INSERT INTO submissions (connection, smsc_message_id, delivery_id, part, parts, "
                             "status, code, submitted_ms) VALUES ('sandbox', 'abc123', 7, 1, 2, 'Dispatched', 0, 1000)")
    await down_and_up_again(empty_url, "0019")
    engine = create_async_engine(async_url(empty_url))
    try:
        async with engine.connect() as conn:
            kept = (await conn.execute(text("SELECT connection, smsc_message_id, delivery_id, parts "
                                            "FROM submissions"))).all()
            key = await conn.run_sync(lambda c: inspect(c).get_pk_constraint("submissions"))
            indexes = await conn.run_sync(lambda c: inspect(c).get_indexes("submissions"))
    finally:
        await engine.dispose()
    assert [tuple(r) for r in kept] == [("sandbox", "abc123", 7, 2)]
    assert key["constrained_columns"] == ["smsc_message_id", "connection"]
    assert [i["column_names"] for i in indexes if i["name"] == "ix_submissions_delivery_id"] == [["delivery_id"]]


async def test_inbounds_and_orphan_receipts_are_searched_by_message_id_first(empty_url: str) -> None:
    """Revision 0021 (the comparison above does not look at a constraint's column order) keeps
    the rows there were, down and up again."""
    await upgrade(empty_url, "0020")
    await execute(empty_url, "INSERT INTO inbounds (id, type, sender, recipient, body, received_ms, connection, "
                             "smsc_message_id) VALUES ('in1', 'mo_text', '+14155550100', '12345', 'hi', 1000, "
                             "'sandbox', 'mo-1')")
    await execute(empty_url, "INSERT INTO orphan_receipts (connection, smsc_message_id, status, code, received_ms) "
                             "VALUES ('sandbox', 'abc123', 'Delivered', 0, 1000)")
    await down_and_up_again(empty_url, "0020")
    engine = create_async_engine(async_url(empty_url))
    try:
        async with engine.connect() as conn:
            inbound = (await conn.execute(text("SELECT id, connection, smsc_message_id, body FROM inbounds"))).all()
            orphan = (await conn.execute(text("SELECT connection, smsc_message_id FROM orphan_receipts"))).all()
            unique = await conn.run_sync(lambda c: inspect(c).get_unique_constraints("inbounds"))
            indexes = await conn.run_sync(lambda c: inspect(c).get_indexes("orphan_receipts"))
            # Still unique: the same MO key again is refused.
            with pytest.raises(Exception, match="(?i)unique"):
                await conn.execute(text("INSERT INTO inbounds (id, type, sender, recipient, body, received_ms, "
                                        "connection, smsc_message_id) VALUES ('in2', 'mo_text', '+14155550100', "
                                        "'12345', 'hi', 1001, 'sandbox', 'mo-1')"))
    finally:
        await engine.dispose()
    assert [tuple(r) for r in inbound] == [("in1", "sandbox", "mo-1", "hi")]
    assert [tuple(r) for r in orphan] == [("sandbox", "abc123")]
    assert [u["column_names"] for u in unique if u["name"] == "uq_inbounds_smsc"] == [["smsc_message_id", "connection"]]
    assert [i["column_names"] for i in indexes if i["name"] == "ix_orphan_receipts_smsc"] == [
        ["smsc_message_id", "connection"]]


async def test_batches_from_before_the_receipt_deadline_start_open(empty_url: str) -> None:
    """Revision 0022: batches there were keep their rows and await their receipts (NULL), so the
    sweeper's first rounds close those already past their deadline; down and up again."""
    await upgrade(empty_url, "0021")
    await execute(empty_url, "INSERT INTO projects (id, name, webhook_secret, created_ms) VALUES ('p', 'n', 's', 1)")
    await execute(empty_url, "INSERT INTO batches (id, project_id, type, body, delivery_report, expire_at_ms, "
                             "flash_message, feedback_enabled, canceled, recipient_count, created_ms, modified_ms) "
                             "VALUES ('b1', 'p', 'mt_text', 'hi', 'none', 5000, false, false, false, 1, 1000, 1000)")
    await upgrade(empty_url)
    await down_and_up_again(empty_url, "0021")
    engine = create_async_engine(async_url(empty_url))
    try:
        async with engine.connect() as conn:
            kept = (await conn.execute(text("SELECT id, expire_at_ms, receipts_closed_ms FROM batches"))).all()
            indexes = await conn.run_sync(lambda c: inspect(c).get_indexes("batches"))
    finally:
        await engine.dispose()
    assert [tuple(r) for r in kept] == [("b1", 5000, None)]
    assert [i["column_names"] for i in indexes if i["name"] == "ix_batches_receipts_open"] == [["expire_at_ms"]]


async def test_binary_sms_columns_start_empty_for_what_there_was(empty_url: str) -> None:
    """Revision 0025: batches, inbounds and MO parts there were are text, their `udh` NULL; the
    new columns take a binary batch's header; down and up again."""
    await upgrade(empty_url, "0024")
    await execute(
        empty_url,
        "INSERT INTO projects (id, name, webhook_secret, created_ms) VALUES ('p', 'n', 's', 1)",
        "INSERT INTO batches (id, project_id, type, body, delivery_report, expire_at_ms, flash_message, "
        "feedback_enabled, canceled, recipient_count, created_ms, modified_ms) "
        "VALUES ('b1', 'p', 'mt_text', 'hi', 'none', 5000, false, false, false, 1, 1000, 1000)",
        "INSERT INTO inbounds (id, type, sender, recipient, body, received_ms, connection, smsc_message_id) "
        "VALUES ('in1', 'mo_text', '+14155550100', '12345', 'hi', 1000, 'sandbox', 'mo-1')",
    )
    await upgrade(empty_url)
    await execute(empty_url,
                  "INSERT INTO batches (id, project_id, type, body, udh, delivery_report, expire_at_ms, flash_message, "
                  "feedback_enabled, canceled, recipient_count, created_ms, modified_ms) VALUES ('b2', 'p', "
                  "'mt_binary', 'AAE=', '06050415811581', 'none', 5000, false, false, false, 1, 1000, 1000)")
    engine = create_async_engine(async_url(empty_url))
    try:
        async with engine.connect() as conn:
            kept = (await conn.execute(text("SELECT id, type, udh FROM batches ORDER BY id"))).all()
            inbound = (await conn.execute(text("SELECT id, type, udh FROM inbounds"))).all()
            part_columns = await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("mo_parts")})
    finally:
        await engine.dispose()
    assert [tuple(r) for r in kept] == [("b1", "mt_text", None), ("b2", "mt_binary", "06050415811581")]
    assert [tuple(r) for r in inbound] == [("in1", "mo_text", None)]
    assert "udh" in part_columns
    await down_and_up_again(empty_url, "0024")
    diffs, _ = await inspect_db(empty_url)
    assert diffs == []


async def test_upgrade_twice_is_a_no_op(empty_url: str) -> None:
    await upgrade(empty_url)
    await execute(empty_url, "INSERT INTO projects (id, name, webhook_secret, created_ms) VALUES ('p', 'n', 's', 1)")
    await upgrade(empty_url)
    assert await current_revision(empty_url) == head_revision()
    engine = create_async_engine(async_url(empty_url))
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM projects"))).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_concurrent_upgrades_serialise(fresh_postgres_url: str) -> None:
    await asyncio.gather(*(upgrade(fresh_postgres_url) for _ in range(4)))
    diffs, _ = await inspect_db(fresh_postgres_url)
    assert diffs == []
    assert await current_revision(fresh_postgres_url) == head_revision()


async def test_downgrade_to_base_and_up_again(empty_url: str) -> None:
    await upgrade(empty_url)
    await downgrade(empty_url, "base")
    _, tables = await inspect_db(empty_url)
    assert tables == {"alembic_version"}
    assert await current_revision(empty_url) is None
    await upgrade(empty_url)
    diffs, _ = await inspect_db(empty_url)
    assert diffs == []


async def test_a_create_all_database_matching_head_is_stamped(empty_url: str) -> None:
    engine = create_async_engine(async_url(empty_url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
    finally:
        await engine.dispose()
    await upgrade(empty_url)
    assert await current_revision(empty_url) == head_revision()


async def test_a_create_all_database_that_drifted_is_refused(empty_url: str) -> None:
    engine = create_async_engine(async_url(empty_url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
    finally:
        await engine.dispose()
    await execute(empty_url, "DROP INDEX ix_deliveries_queued")
    with pytest.raises(MigrationError, match="ix_deliveries_queued"):
        await upgrade(empty_url)
    assert await current_revision(empty_url) is None


def test_upgrade_sync(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/sync.db"  # a plain URL gets the async driver
    upgrade_sync(url)
    assert asyncio.run(current_revision(url)) == head_revision()


def test_one_head_and_an_unbroken_chain() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1
    chain = list(script.walk_revisions())
    assert chain[-1].down_revision is None
    assert chain[0].revision == head_revision()
    for newer, older in zip(chain, chain[1:], strict=False):
        assert newer.down_revision == older.revision


def test_async_url() -> None:
    assert async_url("postgresql://u:p%40ss@h/db") == "postgresql+asyncpg://u:p%40ss@h/db"
    assert async_url("postgresql+psycopg2://h/db") == "postgresql+asyncpg://h/db"
    assert async_url("postgresql+asyncpg://h/db") == "postgresql+asyncpg://h/db"
    assert async_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert async_url("sqlite+aiosqlite:///x.db") == "sqlite+aiosqlite:///x.db"


def test_migrate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    assert cli_main(["migrate", "--database-url", url]) == 0
    assert head_revision() in capsys.readouterr().out
    assert asyncio.run(current_revision(url)) == head_revision()


def test_migrate_command_needs_a_database_url(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("TIDINGS_DATABASE_URL", raising=False)
    assert cli_main(["migrate"]) == 2
    assert "TIDINGS_DATABASE_URL" in capsys.readouterr().err


def test_migrate_command_reports_a_drifted_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/drift.db"

    async def prepare() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(text("DROP INDEX ix_deliveries_queued"))
        await engine.dispose()

    asyncio.run(prepare())
    assert cli_main(["migrate", "--database-url", url]) == 2
    assert "differ from the head schema" in capsys.readouterr().err
