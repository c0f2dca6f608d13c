"""The full test suite, as `make test` and `.ci/run` run it.

Fails loudly: when services are required (CI) and unreachable, when no test ran, when one test
hangs (pytest-timeout fails it after `timeout` seconds, see pyproject.toml) and when the whole run
outlives `TIDINGS_SUITE_DEADLINE` seconds (default 3600): then it names the tests still running
and the slowest that finished, prints this process's threads, kills the test processes and exits
4, so a hang never eats CI's whole budget in silence.

Tests run in `TIDINGS_TEST_PROCESSES` processes (default 2; 0 runs them in this process). Most of
the suite waits on sockets, subprocesses and timers, so two processes halve its time even on two
cores. Tests share nothing that would collide: each process gets its own PostgreSQL database,
Redis keys sit under a random per-test prefix, ports and directories are allocated per test. A
file's tests stay in one process (`--dist loadfile`), so module-level state behaves as it does
serially.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from tidings.testing.services import missing_services, services_required

DEADLINE_EXIT_CODE = 4


class SuiteProgress:
    """Counts the tests that ran and knows which are running now (in every test process)."""

    def __init__(self) -> None:
        self.ran = 0
        self.running: dict[str, float] = {}
        self.took: dict[str, float] = {}

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.running[nodeid] = time.monotonic()

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self.running.pop(nodeid, None)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.took[report.nodeid] = self.took.get(report.nodeid, 0.0) + report.duration
        if report.when == "call" and not report.skipped:
            self.ran += 1

    def slowest(self, count: int) -> list[tuple[str, float]]:
        return sorted(self.took.items(), key=lambda item: -item[1])[:count]


def _watch_deadline(progress: SuiteProgress, deadline_seconds: float) -> threading.Event:
    """After `deadline_seconds`, report the tests still running and end the process."""
    finished = threading.Event()
    # pytest captures file descriptors 1 and 2 while it runs; the report goes to the real stderr.
    stderr = os.fdopen(os.dup(2), "w")

    def watch() -> None:
        if finished.wait(deadline_seconds):
            return
        now = time.monotonic()
        print(f"\nFATAL: the suite outlived its deadline of {deadline_seconds:.0f} s; still running:", file=stderr)
        for nodeid, started in sorted(progress.running.items(), key=lambda item: item[1]):
            print(f"  {nodeid} (for {now - started:.0f} s)", file=stderr)
        print(f"{progress.ran} tests ran; the slowest:", file=stderr)
        for nodeid, seconds in progress.slowest(15):
            print(f"  {seconds:7.1f} s  {nodeid}", file=stderr)
        stderr.flush()
        faulthandler.dump_traceback(file=stderr, all_threads=True)
        stderr.flush()
        _kill_descendants()  # the test processes, and what they started, would hold stdout open
        os._exit(DEADLINE_EXIT_CODE)

    threading.Thread(target=watch, name="suite-deadline", daemon=True).start()
    return finished


def _kill_descendants() -> None:
    """SIGKILL every process descended from this one (Linux: read from /proc; elsewhere none)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, waiting = [], [os.getpid()]
    while waiting:
        for child in children.get(waiting.pop(), []):
            found.append(child)
            waiting.append(child)
    for pid in found:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    missing = missing_services()
    if missing:
        if services_required():
            print(f"FATAL: distributed-profile services unreachable: {', '.join(missing)}", file=sys.stderr)
            return 3
        print(f"NOTE: {', '.join(missing)} unreachable: distributed-profile tests will be skipped.")

    progress = SuiteProgress()
    finished = _watch_deadline(progress, float(os.environ.get("TIDINGS_SUITE_DEADLINE", "3600")))
    processes = int(os.environ.get("TIDINGS_TEST_PROCESSES", "2"))
    parallel = ["-n", str(processes), "--dist", "loadfile"] if processes > 0 else []
    args = ["-q", "-p", "no:cacheprovider", "--durations=15", *parallel, *(argv if argv is not None else sys.argv[1:])]
    try:
        code = pytest.main(args, plugins=[progress])
    finally:
        finished.set()
    if code == 0 and progress.ran == 0:
        print("FATAL: no test ran", file=sys.stderr)
        return 5
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
