"""A running platform per test, in both profiles: embedded (SQLite, in-process queue) and
distributed (a fresh PostgreSQL database and a Redis key prefix per test)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from tidings.testing.platform import Platform, running_platform
from tidings.testing.services import POSTGRES_ADMIN_URL, REDIS_URL
from tidings.webhooks.testing import WebhookReceiver

from ..conftest import _require_services, _run_in_thread


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    _require_services()
    name = f"tidings_e2e_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        engine = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(sql))
        await engine.dispose()

    _run_in_thread(admin(f'CREATE DATABASE "{name}"'))
    yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    _run_in_thread(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def platform_factory(profile: str, tmp_path: Any, request: pytest.FixtureRequest) -> Any:
    """`async with platform_factory(**settings) as p:` — for tests that need their own settings."""

    def factory(**kwargs: Any) -> Any:
        if profile == "distributed":
            kwargs.setdefault("database_url", request.getfixturevalue("fresh_postgres_url"))
            kwargs.setdefault("redis_url", REDIS_URL)
        return running_platform(profile, str(tmp_path / "data"), **kwargs)

    return factory


@pytest.fixture
async def platform(platform_factory: Any) -> AsyncIterator[Platform]:
    async with platform_factory() as p:
        yield p


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    """A webhook receiver listening on 127.0.0.1 for the test's callbacks."""
    hooks = WebhookReceiver()
    await hooks.start()
    yield hooks
    await hooks.stop()
