"""`tidings projects create` prints working credentials; `tidings projects set-callback` sets
the service plan's default callback URL (used when a batch names none)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from tidings.store.db import Database, sqlite_url
from tidings.store.schema import service_plans


def tidings(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tidings.cli", *args], capture_output=True, text=True,
                          timeout=60, check=False)


async def test_create_then_set_and_clear_the_callback(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    created = tidings("projects", "create", "acme", "--data-dir", data)
    assert created.returncode == 0, created.stderr
    creds = json.loads(created.stdout)
    assert set(creds) >= {"project_id", "key_id", "key_secret", "service_plan_id", "api_token", "webhook_secret"}
    plan = creds["service_plan_id"]

    assert tidings("projects", "set-callback", plan, "ftp://x", "--data-dir", data).returncode == 2
    assert tidings("projects", "set-callback", "nope", "http://127.0.0.1:9/cb", "--data-dir", data).returncode == 1
    done = tidings("projects", "set-callback", plan, "http://127.0.0.1:9/cb", "--data-dir", data)
    assert done.returncode == 0, done.stderr

    db = Database(sqlite_url(data))
    try:
        async with db.read() as conn:
            url = (await conn.execute(select(service_plans.c.callback_url)
                                      .where(service_plans.c.id == plan))).scalar_one()
        assert url == "http://127.0.0.1:9/cb"
        assert tidings("projects", "set-callback", plan, "--data-dir", data).returncode == 0
        async with db.read() as conn:
            url = (await conn.execute(select(service_plans.c.callback_url)
                                      .where(service_plans.c.id == plan))).scalar_one()
        assert url is None
    finally:
        await db.aclose()
