"""`tidings api` as an operator runs it: one or several uvicorn workers on a port bound before
they start, stopped by SIGTERM (systemd, `docker stop`) or Ctrl-C with exit 0, and a port in use
refused at once with exit 1 and the reason."""

from __future__ import annotations

import signal
import socket
import uuid
from pathlib import Path

import pytest

from tidings.store.migrate import upgrade
from tidings.testing.ports import free_port
from tidings.testing.services import REDIS_URL

from .faults_support import Proc, wait_healthy


def api_env(database_url: str) -> dict[str, str]:
    return {"TIDINGS_DATABASE_URL": database_url, "TIDINGS_REDIS_URL": REDIS_URL,
            "TIDINGS_REDIS_PREFIX": f"tidings-test:{uuid.uuid4().hex[:10]}:"}


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
@pytest.mark.parametrize("workers", [1, 2])
async def test_the_api_serves_on_its_port_with_one_or_more_workers_and_stops_cleanly(
    fresh_postgres_url: str, tmp_path: Path, workers: int, stop_signal: signal.Signals
) -> None:
    await upgrade(fresh_postgres_url)
    port = free_port()
    api = Proc(["api", "--port", str(port), "--workers", str(workers)], api_env(fresh_postgres_url),
               str(tmp_path / "api.log"))
    try:
        await wait_healthy(f"http://127.0.0.1:{port}", api)
        api.popen.send_signal(stop_signal)
        assert await api.wait(15.0) == 0, api.output()
        assert "Traceback" not in api.output()
    finally:
        await api.terminate()


async def test_a_port_in_use_stops_the_api_with_the_reason(fresh_postgres_url: str, tmp_path: Path) -> None:
    await upgrade(fresh_postgres_url)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        api = Proc(["api", "--port", str(port), "--workers", "2"], api_env(fresh_postgres_url),
                   str(tmp_path / "api.log"))
        assert api.popen.wait(30) == 1
    output = api.output()
    assert f"cannot listen on 127.0.0.1:{port} for the API" in output and "--port" in output, output
    assert "Traceback" not in output


@pytest.mark.parametrize("command", [["api", "--workers", "2"], ["worker"], ["smpp", "--port", "0"]])
async def test_a_clock_too_far_from_the_database_stops_the_command_with_the_reason(
    fresh_postgres_url: str, tmp_path: Path, command: list[str]
) -> None:
    """No real clock is exactly PostgreSQL's: with no skew allowed, each distributed command
    refuses to start, exit 1, saying how far off the clock is."""
    await upgrade(fresh_postgres_url)
    env = {**api_env(fresh_postgres_url), "TIDINGS_MAX_CLOCK_SKEW_SECONDS": "0"}
    if command[0] == "api":
        command = [*command, "--port", str(free_port())]
    proc = Proc(command, env, str(tmp_path / f"{command[0]}.log"))
    assert proc.popen.wait(30) == 1, proc.output()
    output = proc.output()
    assert f"tidings {command[0]}: this machine's clock is" in output and "from the database's" in output, output
    assert "TIDINGS_MAX_CLOCK_SKEW_SECONDS" in output and "Traceback" not in output, output
