"""Running the Alembic migrations shipped in `tidings/store/migrations/`, without an alembic.ini.

    await upgrade(url)          # from async code (the runtime, tests)
    upgrade_sync(url)           # from sync code (`tidings migrate`)
    python -m tidings.store.migrate revision "add server_keys"   # for developers, see below

`upgrade` opens its own engine, takes a PostgreSQL advisory lock so that many processes
starting at once migrate one at a time (the others then find the database at head), and runs
the revisions on that connection in one transaction (PostgreSQL DDL is transactional).

A database created by `metadata.create_all` before migrations existed has tables but no
`alembic_version`. If its tables match the head schema exactly it is stamped at head instead
of being created again; if they differ, `MigrationError` says how, because guessing which
revision it stopped at could lose data.

Adding to `schema.py` means adding a revision: `python -m tidings.store.migrate revision
"message"` autogenerates one against a scratch SQLite database upgraded to the current head
(batch operations, which PostgreSQL runs as plain ALTERs). Read it, tidy it, and run
`tests/store/test_migrations.py`, which fails while migrations and `schema.py` disagree.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tidings.core.errors import TidingsError
from tidings.store.schema import metadata

__all__ = [
    "MIGRATIONS_DIR",
    "MigrationError",
    "alembic_config",
    "async_url",
    "current_revision",
    "downgrade",
    "head_revision",
    "schema_diff",
    "upgrade",
    "upgrade_sync",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"
# pg_advisory_xact_lock key: "tidings" in ASCII, so it does not collide with an application's.
_LOCK_KEY = 0x74696469_6E6773


class MigrationError(TidingsError):
    """The database cannot be brought to the head revision safely."""


def async_url(url: str) -> str:
    """The URL with an async driver: `postgresql://` → asyncpg, `sqlite://` → aiosqlite."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.get_driver_name() != "asyncpg":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif backend == "sqlite" and parsed.get_driver_name() != "aiosqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def alembic_config(url: str | None = None) -> Config:
    """An Alembic `Config` pointing at the packaged migrations (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser interpolates "%": escape it (passwords may be percent-encoded).
        cfg.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
    return cfg


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise MigrationError(f"migrations must have exactly one head, found {sorted(heads)}")
    return heads[0]


def schema_diff(connection: Connection) -> list[Any]:
    """Alembic's differences between the connected database and `schema.metadata`
    (empty when they agree)."""
    ctx = MigrationContext.configure(connection, opts={"compare_type": True})
    diffs = compare_metadata(ctx, metadata)
    return [d for d in diffs if not _is_version_table(d)]


def _is_version_table(diff: Any) -> bool:
    table = diff[1] if isinstance(diff, tuple) and len(diff) > 1 else None
    return getattr(table, "name", None) == VERSION_TABLE


def _adopt_unversioned(connection: Connection, cfg: Config) -> None:
    tables = set(inspect(connection).get_table_names())
    if VERSION_TABLE in tables or not tables & set(metadata.tables):
        return
    diffs = schema_diff(connection)
    if diffs:
        listed = "\n  ".join(repr(d) for d in diffs[:20])
        raise MigrationError(
            "the database has Tidings tables but no alembic_version, and they differ from the "
            f"head schema; bring it to match or start from an empty database:\n  {listed}"
        )
    command.stamp(cfg, "head")


def _upgrade_on(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    _adopt_unversioned(connection, cfg)
    command.upgrade(cfg, revision)


def _downgrade_on(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


def _current_on(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def _run(url: str, fn: Any, *args: Any) -> Any:
    engine = create_async_engine(async_url(url), poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            return await conn.run_sync(fn, *args)
    finally:
        await engine.dispose()


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (default: the latest)."""
    await _run(url, _upgrade_on, revision)


def upgrade_sync(url: str, revision: str = "head") -> None:
    """`upgrade` for code without a running event loop."""
    asyncio.run(upgrade(url, revision))


async def downgrade(url: str, revision: str) -> None:
    """Take the database at `url` back to `revision` ("base" drops every table)."""
    await _run(url, _downgrade_on, revision)


async def current_revision(url: str) -> str | None:
    """The revision the database is at; None when it was never migrated."""
    result: str | None = await _run(url, _current_on)
    return result


def make_revision(message: str, rev_id: str | None = None) -> list[str]:
    """Autogenerate a revision for what `schema.py` has and the head revision lacks; returns
    the new files' paths."""
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite+aiosqlite:///{scratch}/scratch.db"
        upgrade_sync(url)
        cfg = alembic_config(url)
        scripts = command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id)
    items = scripts if isinstance(scripts, list) else [scripts]
    return [str(s.path) for s in items if s is not None]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tidings.store.migrate")
    sub = parser.add_subparsers(dest="command", required=True)
    rev = sub.add_parser("revision", help="autogenerate a revision from schema.py")
    rev.add_argument("message")
    rev.add_argument("--rev-id", default=None, help="revision id (default: next 4-digit number)")
    up = sub.add_parser("upgrade", help="upgrade a database to head")
    up.add_argument("url")
    args = parser.parse_args(argv)
    if args.command == "revision":
        rev_id = args.rev_id or _next_rev_id()
        for path in make_revision(args.message, rev_id):
            print(path)
    else:
        upgrade_sync(args.url)
    return 0


def _next_rev_id() -> str:
    numbers = [
        int(s.revision) for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()
        if s.revision.isdigit()
    ]
    return f"{max(numbers, default=0) + 1:04d}"


if __name__ == "__main__":
    sys.exit(main())
