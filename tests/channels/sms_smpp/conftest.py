"""The SMS connector's tests share a sandbox SMSC with one ESME account, an outcome writer on an
SQLite database of their own, and the settings of a connection to that sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tidings.config import SmppConnectionSettings
from tidings.runtime.context import now_ms
from tidings.sandbox.world import Sandbox
from tidings.store.db import Database, sqlite_url
from tidings.workers.writer import OutcomeWriter

SYSTEM_ID, PASSWORD = "acct", "pw"


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    world = Sandbox(seed=3)
    world.add_account(SYSTEM_ID, PASSWORD)
    await world.start()
    yield world
    await world.stop()


@pytest.fixture
async def writer(tmp_path: object) -> AsyncIterator[OutcomeWriter]:
    db = Database(sqlite_url(str(tmp_path)))
    await db.create_schema()
    w = OutcomeWriter(db, now_ms)
    w.start()
    yield w
    await w.aclose()
    await db.aclose()


def sandbox_connection(sandbox: Sandbox, **overrides: Any) -> SmppConnectionSettings:
    """The connection named "sb" to the sandbox's account."""
    return SmppConnectionSettings(name="sb", host="127.0.0.1", port=sandbox.port, system_id=SYSTEM_ID,
                                  password=PASSWORD, **overrides)
