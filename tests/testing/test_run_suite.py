"""The suite runner fails loudly: on zero tests, on a hung test and when the run outlives its deadline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tidings.testing.run_suite import DEADLINE_EXIT_CODE


def run_suite(
    tmp_path: Path, tests: str, *, deadline: str = "120", timeout: str = "600", processes: str = "0"
) -> subprocess.CompletedProcess[str]:
    """`run_suite` on `tests` (one file's text), as `make test` runs it; returns once every
    process holding its output has ended."""
    (tmp_path / "pytest.ini").write_text(f"[pytest]\nasyncio_mode = auto\ntimeout = {timeout}\n")
    (tmp_path / "test_sample.py").write_text(tests)
    env = {**os.environ, "TIDINGS_SUITE_DEADLINE": deadline, "TIDINGS_TEST_PROCESSES": processes, "CI": ""}
    ini = str(tmp_path / "pytest.ini")
    command = [sys.executable, "-m", "tidings.testing.run_suite", "--rootdir", str(tmp_path), "-c", ini, str(tmp_path)]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


@pytest.mark.timeout(150)
def test_a_run_past_its_deadline_names_the_tests_still_running(tmp_path: Path) -> None:
    result = run_suite(
        tmp_path,
        "import asyncio, time\n"
        "def test_quick():\n    time.sleep(0.2)\n"
        "async def test_stuck():\n    await asyncio.Event().wait()\n",
        deadline="5",
    )
    assert result.returncode == DEADLINE_EXIT_CODE, result.stdout + result.stderr
    assert "outlived its deadline of 5 s" in result.stderr
    still_running = result.stderr.split("still running:")[1].split("tests ran")[0]
    assert "test_sample.py::test_stuck" in still_running
    assert "test_quick" not in still_running
    assert "1 tests ran; the slowest:" in result.stderr
    assert "test_sample.py::test_quick" in result.stderr.split("the slowest:")[1]


@pytest.mark.timeout(150)
def test_a_hung_test_fails_after_its_timeout_and_the_run_goes_on(tmp_path: Path) -> None:
    result = run_suite(
        tmp_path,
        "import asyncio\n"
        "async def test_stuck():\n    await asyncio.Event().wait()\n"
        "def test_after():\n    assert True\n",
        timeout="2",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Timeout (>2.0s) from pytest-timeout" in result.stdout
    assert "1 failed, 1 passed" in result.stdout


@pytest.mark.timeout(150)
def test_no_test_at_all_fails(tmp_path: Path) -> None:
    result = run_suite(tmp_path, "def helper():\n    pass\n")
    assert result.returncode != 0


@pytest.mark.timeout(150)
def test_a_run_past_its_deadline_leaves_no_test_process_behind(tmp_path: Path) -> None:
    """The test processes (here two) and what a test started are killed with the run."""
    pid_file = tmp_path / "sleeper.pid"
    result = run_suite(
        tmp_path,
        "import subprocess, sys, time\n"
        "def test_starts_a_sleeper_and_hangs():\n"
        "    sleeper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"    open({str(pid_file)!r}, 'w').write(str(sleeper.pid))\n"
        "    time.sleep(600)\n",
        deadline="8", processes="2",
    )
    assert result.returncode == DEADLINE_EXIT_CODE, result.stdout + result.stderr
    assert not running(int(pid_file.read_text()))


def running(pid: int) -> bool:
    """Whether the process exists and has not ended (a killed one may linger unreaped, state Z)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
