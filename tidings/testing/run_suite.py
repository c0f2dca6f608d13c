"""The full test suite, as `make test` and `.ci/run` run it.

Fails loudly: when services are required (CI) and unreachable, and when no test ran.

Tests run in `TIDINGS_TEST_PROCESSES` processes (default 2; 0 runs them in this process). Most of
the suite waits on sockets, subprocesses and timers, so two processes halve its time even on two
cores. Tests share nothing that would collide: each process gets its own PostgreSQL database,
Redis keys sit under a random per-test prefix, ports and directories are allocated per test. A
file's tests stay in one process (`--dist loadfile`), so module-level state behaves as it does
serially.
"""

from __future__ import annotations

import os
import sys

import pytest

from tidings.testing.services import missing_services, services_required


def main(argv: list[str] | None = None) -> int:
    missing = missing_services()
    if missing:
        if services_required():
            print(f"FATAL: distributed-profile services unreachable: {', '.join(missing)}", file=sys.stderr)
            return 3
        print(f"NOTE: {', '.join(missing)} unreachable: distributed-profile tests will be skipped.")

    class Counter:
        ran = 0

        def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
            if report.when == "call" and not report.skipped:
                Counter.ran += 1

    processes = int(os.environ.get("TIDINGS_TEST_PROCESSES", "2"))
    parallel = ["-n", str(processes), "--dist", "loadfile"] if processes > 0 else []
    args = ["-q", "-p", "no:cacheprovider", *parallel, *(argv if argv is not None else sys.argv[1:])]
    code = pytest.main(args, plugins=[Counter()])
    if code == 0 and Counter.ran == 0:
        print("FATAL: no test ran", file=sys.stderr)
        return 5
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
