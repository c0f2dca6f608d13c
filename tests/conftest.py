"""Shared fixtures: databases for both profiles.

`any_db` runs a test against SQLite (embedded) and PostgreSQL (distributed). The PostgreSQL
database is created fresh for the session and dropped afterwards. Without PostgreSQL the
distributed variant skips with a message, except in CI where it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tidings.store.db import Database, sqlite_url
from tidings.store.schema import metadata
from tidings.testing.services import POSTGRES_ADMIN_URL, fail_or_skip, missing_services


def _require_services() -> None:
    missing = missing_services()
    if missing:
        fail_or_skip(f"distributed profile needs {', '.join(missing)}")


def _run_in_thread(coro: object) -> None:
    """Run a coroutine to completion on its own loop (fixtures may be set up inside a loop)."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro)  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


@contextlib.contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """The URL of an empty PostgreSQL database of its own (`<prefix>_<random>`), dropped after."""
    _require_services()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        engine = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(sql))
        await engine.dispose()

    _run_in_thread(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        _run_in_thread(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with fresh_database("tidings_test") as url:
        yield url


@pytest.fixture(params=["embedded", "distributed"])
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def any_db(profile: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    if profile == "embedded":
        db = Database(sqlite_url(str(tmp_path_factory.mktemp("db"))))
        await db.create_schema()
    else:
        db = Database(request.getfixturevalue("postgres_url"))
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
            await conn.run_sync(metadata.create_all)
    yield db
    await db.aclose()
