"""The full test suite, as `make test` and `.ci/run` run it.

Fails loudly: when services are required (CI) and unreachable, and when no test ran.
"""

from __future__ import annotations

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

    code = pytest.main(["-q", "-p", "no:cacheprovider", *(argv if argv is not None else sys.argv[1:])], plugins=[Counter()])
    if code == 0 and Counter.ran == 0:
        print("FATAL: no test ran", file=sys.stderr)
        return 5
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
