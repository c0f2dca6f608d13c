"""Where the distributed profile's services live in tests, and whether they answer."""

from __future__ import annotations

import os
import socket
from typing import NoReturn

POSTGRES_ADMIN_URL = os.environ.get(
    "TIDINGS_TEST_POSTGRES_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("TIDINGS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def services_required() -> bool:
    """In CI (or when asked) the distributed tests must run: unreachable services fail the run."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"} or bool(
        os.environ.get("TIDINGS_REQUIRE_SERVICES")
    )


def missing_services() -> list[str]:
    missing = []
    if not reachable("127.0.0.1", 5432):
        missing.append("PostgreSQL on 127.0.0.1:5432")
    if not reachable("127.0.0.1", 6379):
        missing.append("Redis on 127.0.0.1:6379")
    return missing


def fail_or_skip(message: str) -> NoReturn:
    """In a test whose service is missing: fail in CI (or when services are required), skip with
    `message` on a developer's machine."""
    import pytest

    if services_required():
        pytest.fail(message)
    pytest.skip(message)


def require(what: str, host: str, port: int) -> None:
    """In a test: carry on if host:port answers; otherwise `fail_or_skip`, saying what is missing."""
    if not reachable(host, port):
        fail_or_skip(f"{what} needs {host}:{port}")
