"""Helpers for the fault tests: breaking things on purpose and reading what the database says.

- `drop_smpp_sessions(sandbox)`: cut every SMPP connection of the sandbox SMSC abruptly (a TCP
  abort, no unbind), as a carrier's network failing would;
- `status_counts`, `row_counts`, `wait_until`: database state, waited for by condition;
- `inbox_counts`: how many messages each sandbox handset received (duplicates show as > 1);
- `Proc`, `wait_healthy`: a `tidings` command run as a real subprocess, killed
  with SIGKILL;
- `bound_sessions(sandbox)`: how many ESMEs are bound to the sandbox SMSC;
- `answer_submits_late(sandbox)`: a slow carrier, its submit_sm answers held back;
- `carrier_env(sandbox)`: `tidings serve`'s SMS connection pointed at a sandbox the test runs;
- `second_sigterm_ends_it(proc, late)`: a stop waiting on unanswered submits, ended by a second
  SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import httpx
from sqlalchemy import func, select

from tidings.store.db import Database
from tidings.store.schema import batches, deliveries, inbounds, orphan_receipts, submissions, webhook_outbox

COUNTED_TABLES = {
    "batches": batches,
    "deliveries": deliveries,
    "submissions": submissions,
    "orphan_receipts": orphan_receipts,
    "inbounds": inbounds,
    "webhook_outbox": webhook_outbox,
}


def numbers(count: int, prefix: str = "+467012") -> list[str]:
    """`count` distinct valid Swedish mobile numbers (the sandbox delivers to mobiles only)."""
    width = 11 - (len(prefix) - 1)
    return [f"{prefix}{i:0{width}d}" for i in range(count)]


def drop_smpp_sessions(sandbox: Any) -> int:
    """Abort every open SMPP connection of the sandbox SMSC; returns how many were cut."""
    sessions = list(sandbox._sessions())  # noqa: SLF001 - the SMSC's live sessions
    for session in sessions:
        transport = session._transport  # noqa: SLF001 - abort, not close: nothing is flushed
        if transport is not None:
            transport.abort()
    return len(sessions)


def bound_sessions(sandbox: Any) -> int:
    return sum(1 for s in sandbox._sessions() if s.bound)  # noqa: SLF001


def inbox_counts(sandbox: Any, recipients: Iterable[str]) -> Counter[str]:
    return Counter({n: len(sandbox.messages_for(n)) for n in recipients})


async def status_counts(db: Database) -> dict[str, int]:
    async with db.read() as conn:
        rows = await conn.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status))
        return {status: count for status, count in rows}


async def retried_deliveries(db: Database) -> int:
    """Deliveries claimed more than once (released after a failed attempt, or recovered)."""
    async with db.read() as conn:
        query = select(func.count()).select_from(deliveries).where(deliveries.c.attempts > 1)
        return int((await conn.execute(query)).scalar_one())


async def row_counts(db: Database) -> dict[str, int]:
    counts = {}
    async with db.read() as conn:
        for name, table in COUNTED_TABLES.items():
            counts[name] = (await conn.execute(select(func.count()).select_from(table))).scalar_one()
    return counts


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float, what: str,
                     interval: float = 0.05) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


async def wait_all_status(db: Database, total: int, status: str = "Delivered", timeout: float = 20.0) -> None:
    last: dict[str, int] = {}

    async def done() -> bool:
        nonlocal last
        last = await status_counts(db)
        return last.get(status, 0) == total

    try:
        await wait_until(done, timeout, f"{total} deliveries {status}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; statuses: {last}") from None


class Proc:
    """`tidings <args>` as a subprocess in its own process group; `kill()` is SIGKILL,
    `terminate()` SIGTERM."""

    def __init__(self, args: list[str], env: Mapping[str, str], log_path: str) -> None:
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in wait()/kill()
        full_env = {**os.environ, **env}
        self.popen = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "tidings.cli", *args], env=full_env, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.log_path = log_path
        self.args = " ".join(["tidings", *args])

    @property
    def pid(self) -> int:
        return self.popen.pid

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed, nothing is unbound."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)
        self._log.close()

    async def terminate(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then `wait`."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        return await self.wait(timeout)

    async def wait(self, timeout: float) -> int | None:
        """The exit code, waited for without blocking the loop (the process may be waiting on
        something this loop serves, such as a sandbox SMSC); None when it was still running
        after `timeout` and had to be killed."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (code := self.popen.poll()) is None:
            if asyncio.get_running_loop().time() > deadline:
                self.kill()
                return None
            await asyncio.sleep(0.02)
        self._log.close()
        return code

    def output(self) -> str:
        with open(self.log_path, "rb") as fh:
            return fh.read().decode("utf-8", "replace")[-4000:]


async def wait_healthy(base_url: str, proc: Proc, timeout: float = 30.0) -> None:
    async with httpx.AsyncClient(timeout=2.0) as http:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            assert proc.popen.poll() is None, f"{proc.args} exited:\n{proc.output()}"
            try:
                if (await http.get(f"{base_url}/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{proc.args} never became healthy:\n{proc.output()}")
            await asyncio.sleep(0.1)


class LateAnswers:
    """A sandbox SMSC answering submit_sm late: `waiting` answers held now; `end()` stops it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.waiting = 0
        self.on = True

    def end(self) -> None:
        self.on = False


def answer_submits_late(sandbox: Any, seconds: float = 0.3) -> LateAnswers:
    """Until `end()`, `sandbox`'s SMSC answers each submit_sm `seconds` late (a slow carrier).
    Call before `sandbox.start()`: its SMPP server takes the handler's methods then."""
    smsc = sandbox.smsc
    answer, answer_now = smsc.handle_submit_sm, smsc.submit_sm_now
    late = LateAnswers(seconds)

    async def answer_late(session: Any, pdu: Any) -> tuple[int, str]:
        if late.on:
            late.waiting += 1
            try:
                await asyncio.sleep(late.seconds)
            finally:
                late.waiting -= 1
        return await answer(session, pdu)  # type: ignore[no-any-return]

    smsc.handle_submit_sm = answer_late
    smsc.submit_sm_now = lambda session, pdu: None if late.on else answer_now(session, pdu)
    return late


def carrier_env(sandbox: Any, system_id: str, password: str, **options: Any) -> dict[str, str]:
    """The environment that points a `tidings` process's one SMS connection ("carrier") at
    `sandbox` (started), an SMSC outside the process that outlives it; `options` are further
    connection settings (`window`, `throughput` …)."""
    return {"TIDINGS_SMPP_CONNECTIONS": json.dumps([{
        "name": "carrier", "host": "127.0.0.1", "port": sandbox.port, "system_id": system_id, "password": password,
        **options,
    }])}


async def second_sigterm_ends_it(proc: Proc, late: LateAnswers, written: int) -> None:
    """Once `written` submits are held by the SMSC: the first SIGTERM waits for their answers
    (the process is still there a second later), a second one ends it at once."""

    async def held() -> bool:
        return late.waiting == written

    await wait_until(held, 10.0, f"the {written} submits written and held by the SMSC")
    proc.popen.send_signal(signal.SIGTERM)
    await asyncio.sleep(1.0)
    assert proc.popen.poll() is None, "the stop did not wait for the SMSC's answers"
    proc.popen.send_signal(signal.SIGTERM)
    assert await proc.wait(10.0) == -signal.SIGTERM
