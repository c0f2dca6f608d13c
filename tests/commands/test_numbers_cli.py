"""`tidings numbers assign / release / list`: numbers checked and normalised, one project's at a
time (moving one must be asked for), unknown plans and numbers refused with exit 1, bad ones
with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def tidings(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tidings.cli", *args], capture_output=True, text=True,
                          timeout=60, check=False)


def test_assign_move_list_and_release(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    first = json.loads(tidings("projects", "create", "first", "--data-dir", data).stdout)
    second = json.loads(tidings("projects", "create", "second", "--data-dir", data).stdout)

    done = tidings("numbers", "assign", "0046 70 000 0001".replace(" ", ""), first["service_plan_id"],
                   "--data-dir", data)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"number": "+46700000001", "project_id": first["project_id"],
                                       "service_plan_id": first["service_plan_id"]}
    assert tidings("numbers", "assign", "72345", first["service_plan_id"], "--data-dir", data).returncode == 0

    bad = tidings("numbers", "assign", "12", first["service_plan_id"], "--data-dir", data)
    assert bad.returncode == 2 and "not a valid phone number" in bad.stderr
    no_plan = tidings("numbers", "assign", "+46700000002", "no-such-plan", "--data-dir", data)
    assert no_plan.returncode == 1 and "no-such-plan" in no_plan.stderr

    taken = tidings("numbers", "assign", "+46700000001", second["service_plan_id"], "--data-dir", data)
    assert taken.returncode == 1 and first["project_id"] in taken.stderr
    moved = tidings("numbers", "assign", "+46700000001", second["service_plan_id"], "--move", "--data-dir", data)
    assert moved.returncode == 0, moved.stderr

    listed = json.loads(tidings("numbers", "list", "--data-dir", data).stdout)
    assert [(n["number"], n["project_id"]) for n in listed] == [
        ("+46700000001", second["project_id"]), ("72345", first["project_id"])]
    only_first = json.loads(tidings("numbers", "list", "--project", first["project_id"], "--data-dir", data).stdout)
    assert [n["number"] for n in only_first] == ["72345"]

    assert tidings("numbers", "release", "72345", "--data-dir", data).returncode == 0
    again = tidings("numbers", "release", "72345", "--data-dir", data)
    assert again.returncode == 1 and "not assigned" in again.stderr
    assert [n["number"] for n in json.loads(tidings("numbers", "list", "--data-dir", data).stdout)] == ["+46700000001"]
