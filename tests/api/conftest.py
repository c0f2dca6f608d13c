"""Fixtures for the HTTP API tests: a running server on `any_db` (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tidings.api.testing import ApiServer, running_api
from tidings.store.db import Database


@pytest.fixture
async def api(any_db: Database) -> AsyncIterator[ApiServer]:
    async with running_api(any_db) as server:
        yield server


@pytest.fixture(params=["oauth", "service_plan"])
def auth_mode(request: pytest.FixtureRequest) -> str:
    """Both ways the Sinch SDK authenticates to XMS."""
    return str(request.param)
