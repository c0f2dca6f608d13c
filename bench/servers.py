"""Start Tidings for the benchmark as real processes, in either profile, and read what they did.

    embedded     one `tidings serve` process (SQLite, in-process workers, sandbox SMSC)
    distributed  `tidings sandbox` + `tidings worker` ×W + `tidings api --workers N`
                 on a fresh PostgreSQL database and a fresh Redis key prefix

`Server` knows the API's port, the project's credentials, how many deliveries are Delivered
(read straight from the database, so no server-side counter is trusted) and the peak RSS of
every process it started (VmHWM, children included), and the CPU time they used.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tidings.testing.ports import free_ports

TIDINGS = [sys.executable, "-m", "tidings.cli"]
POSTGRES_ADMIN_URL = os.environ.get(
    "TIDINGS_TEST_POSTGRES_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("TIDINGS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SANDBOX_ACCOUNT = {"system_id": "tidings", "password": "sandbox"}


def _descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        children = [p for p, parent in parents.items() if parent == current]
        found += children
        frontier += children
    return found


def peak_rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used so far."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


@dataclass
class Server:
    profile: str
    port: int
    creds: dict[str, str]
    sandbox_url: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    sqlite_path: str | None = None
    database_url: str | None = None
    redis_prefix: str | None = None
    _pg: object | None = None

    def peak_rss(self) -> dict[str, float]:
        """Peak RSS in MB per started process (a uvicorn parent's worker processes separately)."""
        result: dict[str, float] = {}
        for name, proc in self.processes.items():
            result[name] = peak_rss_mb(proc.pid)
            for i, child in enumerate(_descendants(proc.pid)):
                result[f"{name}.{i + 1}"] = peak_rss_mb(child)
        return result

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by every started process and its descendants."""
        return sum(self.cpu_by_process().values())

    def cpu_by_process(self) -> dict[str, float]:
        """CPU seconds used so far by each started process, its descendants included."""
        return {name: cpu_seconds(proc.pid) + sum(cpu_seconds(child) for child in _descendants(proc.pid))
                for name, proc in self.processes.items()}

    async def delivered(self, since_ms: int) -> tuple[int, int, int | None]:
        """(Delivered, not yet final, newest Delivered status_ms) among deliveries created since."""
        row = await self._row(
            "SELECT sum(CASE WHEN status = 'Delivered' THEN 1 ELSE 0 END), "
            "sum(CASE WHEN status IN ('Queued', 'Dispatched') THEN 1 ELSE 0 END), "
            "max(CASE WHEN status = 'Delivered' THEN status_ms END) "
            "FROM deliveries WHERE created_ms >= {since}", since_ms)
        return int(row[0] or 0), int(row[1] or 0), row[2]

    async def inbound_count(self, since_ms: int) -> int:
        """Inbound messages stored since `since_ms`."""
        return int((await self._row("SELECT count(*) FROM inbounds WHERE received_ms >= {since}", since_ms))[0])

    async def _row(self, sql: str, since_ms: int) -> Any:
        """The one row of `sql`, `{since}` standing for `since_ms`, read from the server's database."""
        if self.sqlite_path is not None:
            conn = sqlite3.connect(f"file:{self.sqlite_path}?mode=ro", uri=True)
            try:
                return conn.execute(sql.format(since="?"), (since_ms,)).fetchone()
            finally:
                conn.close()
        import asyncpg

        if self._pg is None:
            self._pg = await asyncpg.connect(self.database_url.replace("+asyncpg", ""))  # type: ignore[union-attr]
        return await self._pg.fetchrow(sql.format(since="$1"), since_ms)  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self._pg is not None:
            await self._pg.close()  # type: ignore[attr-defined]
        for proc in reversed(list(self.processes.values())):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "wb")  # noqa: SIM115 - kept open for the child's lifetime
    return subprocess.Popen(TIDINGS + args, env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)


async def _wait_http(port: int, path: str, procs: list[subprocess.Popen[bytes]], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            head = await reader.read(12)
            writer.close()
            if head[9:12] == b"200":
                return
        except OSError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"nothing answered {path} on port {port} within {timeout:.0f}s")


def _run(args: list[str], env: dict[str, str]) -> str:
    return subprocess.run(TIDINGS + args, env=env, check=True, capture_output=True).stdout.decode()


async def start_embedded(workdir: Path, *, smsc_outside: bool = False) -> Server:
    """`tidings serve`; with `smsc_outside`, its SMS connection goes to a `tidings sandbox` of its
    own (the carrier in another process, as a real SMSC would be) instead of the sandbox SMSC
    inside the serving process. Both processes' CPU is counted."""
    data_dir = workdir / "data"
    env = {**os.environ, "TIDINGS_DATA_DIR": str(data_dir)}
    creds = json.loads(_run(["projects", "create", "bench"], env))
    port, smpp_port, sandbox_port = free_ports(3)
    server = Server("embedded-x" if smsc_outside else "embedded", port, creds, f"http://127.0.0.1:{port}",
                    sqlite_path=str(data_dir / "tidings.db"))
    try:
        if smsc_outside:
            server.processes["sandbox"] = _spawn(
                ["sandbox", "--smpp-port", str(smpp_port), "--port", str(sandbox_port)], env, workdir / "sandbox.log")
            await _wait_http(sandbox_port, "/health", list(server.processes.values()))
            connection = {"name": "sandbox", "host": "127.0.0.1", "port": smpp_port, **SANDBOX_ACCOUNT}
            env["TIDINGS_SMPP_CONNECTIONS"] = json.dumps([connection])
            server.sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        server.processes["serve"] = _spawn(["serve", "--port", str(port), "--smpp-port", "0"], env,
                                           workdir / "serve.log")
        await _wait_http(port, "/health", list(server.processes.values()))
    except BaseException:
        await server.stop()
        raise
    return server


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_ADMIN_URL.replace("+asyncpg", ""))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def start_distributed(workdir: Path, api_workers: int, workers: int) -> Server:
    name = f"tidings_bench_{uuid.uuid4().hex[:10]}"
    await _admin(f'CREATE DATABASE "{name}"')
    database_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    smpp_port, sandbox_port, port = free_ports(3)
    connection = {"name": "sandbox", "host": "127.0.0.1", "port": smpp_port, **SANDBOX_ACCOUNT}
    prefix = f"tidings-bench:{uuid.uuid4().hex[:10]}:"
    env = {**os.environ, "TIDINGS_DATABASE_URL": database_url, "TIDINGS_REDIS_URL": REDIS_URL,
           "TIDINGS_REDIS_PREFIX": prefix,
           "TIDINGS_SMPP_CONNECTIONS": json.dumps([connection]), "TIDINGS_DATA_DIR": str(workdir)}
    _run(["migrate"], env)
    creds = json.loads(_run(["projects", "create", "bench"], env))
    server = Server("distributed", port, creds, f"http://127.0.0.1:{sandbox_port}",
                    database_url=database_url, redis_prefix=prefix)
    try:
        server.processes["sandbox"] = _spawn(
            ["sandbox", "--smpp-port", str(smpp_port), "--port", str(sandbox_port)], env,
            workdir / "sandbox.log")
        await _wait_http(sandbox_port, "/health", list(server.processes.values()))
        for i in range(workers):
            server.processes[f"worker{i + 1}"] = _spawn(["worker"], env, workdir / f"worker{i + 1}.log")
        server.processes["api"] = _spawn(["api", "--port", str(port), "--workers", str(api_workers)],
                                         env, workdir / "api.log")
        await _wait_http(port, "/health", list(server.processes.values()))
    except BaseException:
        await drop_distributed(server)
        raise
    return server


async def drop_distributed(server: Server) -> None:
    await server.stop()
    if server.database_url:
        name = server.database_url.rsplit("/", 1)[1]
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if server.redis_prefix:
        from redis.asyncio import Redis

        redis = Redis.from_url(REDIS_URL)
        keys = [key async for key in redis.scan_iter(match=server.redis_prefix + "*", count=1000)]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
