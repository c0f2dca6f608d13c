"""A running platform per test, in both profiles: embedded (SQLite, in-process queue) and
distributed (a fresh PostgreSQL database and a Redis key prefix per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tidings.testing.platform import Platform, running_platform
from tidings.testing.services import REDIS_URL
from tidings.webhooks.testing import WebhookReceiver

from ..conftest import fresh_database


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    with fresh_database("tidings_e2e") as url:
        yield url


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
