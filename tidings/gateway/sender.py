"""Delivers queued deliver_sm (`smpp_outbox`) to customers' bound receiver sessions.

While some account has a receiver or transceiver session bound to this process, the sender
claims that account's due rows (a lease, so several gateway processes never send one row twice)
and sends each row's PDUs in order through the session's window. A row is marked delivered once
every PDU has its deliver_sm_resp with ESME_ROK. When the ESME answers an error, the row is
retried with exponential backoff; when the session goes away first, it is released at once and
sent again as soon as the account binds (to this process or another). Rows older than
`max_age_seconds` (72 hours) are expired. Nothing here is lost by a crash: an unanswered claim is
taken over after the lease (a deliver_sm that was answered but not yet recorded is sent again:
at least once).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable

from tidings.gateway.deliver import decode_pdus
from tidings.smpp.errors import CommandStatusError, SmppError
from tidings.smpp.server import ServerSession
from tidings.store import gateway as gq
from tidings.store.db import Database

__all__ = ["DeliverSender"]

log = logging.getLogger(__name__)

_EXPIRE_EVERY_SECONDS = 60.0


class DeliverSender:
    def __init__(
        self,
        db: Database,
        clock: Callable[[], int],
        receivers: Callable[[], dict[str, list[ServerSession]]],
        *,
        poll_interval: float = 0.2,
        lease_seconds: float = 60.0,
        max_age_seconds: float = 72 * 3600,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        max_in_flight: int = 256,
    ) -> None:
        self._db = db
        self._clock = clock
        self._receivers = receivers
        self.poll_interval = poll_interval
        self.lease_ms = int(lease_seconds * 1000)
        self.max_age_ms = int(max_age_seconds * 1000)
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_in_flight = max_in_flight
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._turn = itertools.count()
        self._expired_at = 0.0
        self.delivered = 0

    def wake(self) -> None:
        self._wakeup.set()

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name="smpp-gateway-sender")

    async def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=5.0)
            for task in self._in_flight:
                task.cancel()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.run_once()
            except Exception:
                log.exception("smpp gateway: outbox pass failed")
            try:
                await asyncio.wait_for(self._wakeup.wait(), self.poll_interval)
            except TimeoutError:
                pass
            self._wakeup.clear()

    async def run_once(self) -> int:
        """One pass: claim due rows of bound accounts and start sending them; returns how many."""
        loop = asyncio.get_running_loop()
        if loop.time() - self._expired_at >= _EXPIRE_EVERY_SECONDS:
            self._expired_at = loop.time()
            async with self._db.write() as conn:
                expired = await gq.expire_old(conn, self._clock() - self.max_age_ms)
            if expired:
                log.warning("smpp gateway: %d deliver_sm expired undelivered", expired)
        receivers = self._receivers()
        free = self.max_in_flight - len(self._in_flight)
        if not receivers or free <= 0:
            return 0
        now = self._clock()
        async with self._db.write() as conn:
            rows = await gq.claim(conn, list(receivers), now, now - self.lease_ms, free)
        for row in rows:
            task = loop.create_task(self._deliver(row, receivers[row.system_id]))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return len(rows)

    async def _deliver(self, row: gq.Claimed, sessions: list[ServerSession]) -> None:
        session = sessions[next(self._turn) % len(sessions)]
        try:
            for pdu in decode_pdus(row.pdus):
                await session.deliver(pdu)
        except CommandStatusError as exc:
            delay = min(self.max_delay, self.base_delay * 2 ** row.attempts)
            await self._release(row, self._clock() + int(delay * 1000), str(exc), attempted=True)
            return
        except SmppError as exc:  # the session went away: send again once the account is bound
            await self._release(row, self._clock(), str(exc), attempted=True)
            return
        async with self._db.write() as conn:
            await gq.mark_delivered(conn, row.id, self._clock())
        self.delivered += 1

    async def _release(self, row: gq.Claimed, due_ms: int, error: str, *, attempted: bool) -> None:
        log.info("smpp gateway: deliver_sm to %s not acknowledged: %s", row.system_id, error)
        async with self._db.write() as conn:
            await gq.mark_failed(conn, row.id, due_ms, error, attempted=attempted)
