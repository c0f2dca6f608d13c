"""How many sessions an account has bound, across every gateway process: the `max_binds` limit.

Throughput is capped per bind, so without a limit on binds an account could multiply its
throughput by opening more connections. Each gateway process counts its own bound sessions per
account in memory and writes the count to `smpp_binds` (one row per process and account),
refreshing `seen_ms` every `lease / 3` seconds while it runs. A bind is accepted when the counts
of every process seen within the lease, its own included, are below the account's `max_binds`;
the check and the new count are one write transaction holding the account's row (PostgreSQL:
`FOR UPDATE`; SQLite writes one transaction at a time), so two processes cannot both take the
last place. A process that stops without a word stops refreshing: its binds count for nothing
once the lease is over (the customer's reconnects are refused at most that long), and its rows
are deleted after ten leases by whichever process runs `forget_stopped`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.core.ids import hex_id
from tidings.store import gateway as gq
from tidings.store.db import Database
from tidings.store.gateway_schema import smpp_accounts, smpp_binds
from tidings.tasks import cancel_and_wait

__all__ = ["BIND_LEASE_SECONDS", "BindLimits"]

log = logging.getLogger(__name__)

BIND_LEASE_SECONDS = 30.0
"""A process's counts older than this are a stopped process's."""

_b = smpp_binds.c


class BindLimits:
    def __init__(self, db: Database, clock: Callable[[], int], *, lease: float = BIND_LEASE_SECONDS) -> None:
        self.db = db
        self.clock = clock
        self.lease = lease
        self.gateway_id = hex_id(8)
        self.local: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[None]] = set()

    async def acquire(self, account: gq.Account) -> bool:
        """Count one more bind of `account`, unless it has `max_binds` already."""
        system_id = account.system_id
        async with self.db.write() as conn:
            await conn.execute(select(smpp_accounts.c.system_id).where(smpp_accounts.c.system_id == system_id)
                               .with_for_update())
            now = self.clock()
            elsewhere = (await conn.execute(
                select(func.coalesce(func.sum(_b.binds), 0)).where(
                    _b.system_id == system_id, _b.gateway_id != self.gateway_id,
                    _b.seen_ms >= now - int(self.lease * 1000))
            )).scalar_one()
            if int(elsewhere) + self.local[system_id] >= account.max_binds:
                log.info("smpp gateway: %s has %d binds already, its limit", system_id,
                         int(elsewhere) + self.local[system_id])
                return False
            self.local[system_id] += 1
            try:
                await self._write(conn, system_id, now)
            except BaseException:
                self.local[system_id] -= 1
                raise
        return True

    def release(self, system_id: str) -> None:
        """One bind of `system_id` is gone (its count is written in the background)."""
        if self.local[system_id] <= 0:
            return
        self.local[system_id] -= 1
        task = asyncio.get_running_loop().create_task(self._write_one(system_id))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write_one(self, system_id: str) -> None:
        try:
            async with self.db.write() as conn:
                await self._write(conn, system_id, self.clock())
        except Exception:  # noqa: BLE001 - the next refresh writes it
            log.exception("smpp gateway: writing the bind count of %s failed", system_id)

    async def _write(self, conn: AsyncConnection, system_id: str, now: int) -> None:
        await conn.execute(delete(smpp_binds).where(_b.gateway_id == self.gateway_id, _b.system_id == system_id))
        count = self.local[system_id]
        if count > 0:
            await conn.execute(insert(smpp_binds).values(gateway_id=self.gateway_id, system_id=system_id,
                                                         binds=count, seen_ms=now))

    async def refresh(self) -> None:
        """Write every count of this process with the time now."""
        if not self.local:
            return
        async with self.db.write() as conn:
            now = self.clock()
            for system_id in list(self.local):
                await self._write(conn, system_id, now)
                if self.local[system_id] <= 0:
                    del self.local[system_id]

    async def forget_stopped(self) -> int:
        """Delete the counts of processes not seen for ten leases (stopped without a word: a
        process removes its own when it stops); how many."""
        before = self.clock() - int(self.lease * 10 * 1000)
        async with self.db.read() as conn:
            stale = (await conn.execute(select(func.count()).select_from(smpp_binds)
                                        .where(_b.seen_ms < before))).scalar_one()
        if not stale:
            return 0
        async with self.db.write() as conn:
            await conn.execute(delete(smpp_binds).where(_b.seen_ms < before))
        return int(stale)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await self.refresh()
                await self.forget_stopped()
            except Exception:  # noqa: BLE001 - tried again next round
                log.exception("smpp gateway: refreshing the bind counts failed")

    async def stop(self) -> None:
        """Stop refreshing and remove this process's counts (its sessions are closed)."""
        await cancel_and_wait(self._task)
        self._task = None
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        self.local.clear()
        async with self.db.write() as conn:
            await conn.execute(delete(smpp_binds).where(_b.gateway_id == self.gateway_id))
