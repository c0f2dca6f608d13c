"""`tidings projects create` prints working credentials; `tidings projects set-callback` sets
the service plan's default callback URL (used when a batch names none); `tidings projects
set-smpp` changes an SMPP account's limits."""

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


def test_set_smpp_changes_an_accounts_limits_and_refuses_bad_ones(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    creds = json.loads(tidings("projects", "create", "acme", "--data-dir", data).stdout)
    account = creds["smpp_system_id"]
    shown = tidings("projects", "set-smpp", account, "--data-dir", data)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {"system_id": account, "window": 50, "throughput": 100, "max_binds": 4,
                                        "allowed_networks": None}
    changed = tidings("projects", "set-smpp", account, "--max-binds", "2", "--throughput", "10",
                      "--allowed-networks", "203.0.113.0/24, 198.51.100.7", "--data-dir", data)
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout) == {"system_id": account, "window": 50, "throughput": 10, "max_binds": 2,
                                          "allowed_networks": "203.0.113.0/24 198.51.100.7/32"}
    assert tidings("projects", "set-smpp", account, "--allowed-networks", "nonsense", "--data-dir",
                   data).returncode == 2
    assert tidings("projects", "set-smpp", account, "--max-binds", "0", "--data-dir", data).returncode == 2
    assert tidings("projects", "set-smpp", "nobody", "--data-dir", data).returncode == 1
    cleared = tidings("projects", "set-smpp", account, "--allowed-networks", "", "--data-dir", data)
    assert json.loads(cleared.stdout)["allowed_networks"] is None
    assert json.loads(cleared.stdout)["max_binds"] == 2  # unchanged
