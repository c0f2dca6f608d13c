"""What the SMSC owes one ESME account: receipts and mobile-originated messages, kept until sent.

Each entry is one deliver_sm (or data_sm, for an account that takes those). Entries wait while
no session of the account is bound as receiver or transceiver and go out when one binds; with
several such sessions they take turns, so the parts of one concatenated MO may arrive over
different sessions, in any order, as from a real SMSC (an ESME must keep each part it
acknowledges). A delivery that fails transiently or loses its session is put back at the front
and tried again, so nothing is lost while the process runs. An ESME that answers a permanent
error has refused the PDU, which is then dropped.

Entries are pipelined: a worker sends one and moves on, its answer handled when it comes, so as
many are in flight as the session's window allows — an ESME writes its receipts down before
answering, and four at a time (one per worker, as every entry once was) left it committing four
receipts per transaction.

An ESME that takes its receipts slower than it submits (its writer lags its sender) would grow
the outbox without end, inside the sandbox's process. Like a congested carrier, the SMSC then
slows its answers to submit_sm instead: once `backlog_limit` entries wait for a receiving session
that is bound, `room()` holds a submission until the queue is down to half that, or for
`hold_limit_s` at most (well inside an ESME's response timeout). The ESME's window fills, its
sender waits, and the backlog stays in its own durable queue. Entries waiting for a bind do not
hold submissions: nobody is taking them, and a transmitter-only ESME must still be able to send.

What it owes (`owed`: the queue, and entries put back that wait out their retry delay) is what a
stop saves and the next start gives back (`state.py`); an entry sent and answered is not owed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial

from tidings.smpp.constants import is_transient
from tidings.smpp.errors import PduError, SessionError
from tidings.smpp.pdu import DataSm, DeliverSm, Pdu
from tidings.smpp.server import ServerSession
from tidings.smpp.session import SessionState
from tidings.tasks import cancel_and_wait

__all__ = ["Outbox"]

logger = logging.getLogger("tidings.sandbox.outbox")

_RECEIVING = frozenset({SessionState.BOUND_RX, SessionState.BOUND_TRX})
RETRY_DELAY = 0.2
POLL_INTERVAL = 1.0
BACKLOG_LIMIT = 10_000
"""Entries queued for a bound ESME before submissions are held (~8 MB of receipts)."""
HOLD_LIMIT_S = 5.0


class Outbox:
    """Queued deliver_sm groups for one account, sent by `workers` tasks; see the module docstring."""

    def __init__(
        self, system_id: str, sessions: Callable[[], Iterable[ServerSession]], *, workers: int = 4
    ) -> None:
        self.system_id = system_id
        self._sessions = sessions
        self._entries: deque[DeliverSm | DataSm] = deque()
        self._wake = asyncio.Event()
        self._workers = workers
        self._tasks: list[asyncio.Task[None]] = []
        self._turn = 0
        self.delivered = 0
        self.backlog_limit = BACKLOG_LIMIT
        self.hold_limit_s = HOLD_LIMIT_S
        self.held = 0  # submissions held for room, ever
        self._holding = 0  # held now
        self._drained = asyncio.Event()
        self._unanswered = 0  # sent, the ESME's answer not in yet
        self._retrying: list[DeliverSm | DataSm] = []  # put back, waiting out RETRY_DELAY

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def full(self) -> bool:
        """Too many entries wait for an ESME that is bound to take them, or submissions are held
        already (a later one must not overtake them): hold this one."""
        return self._holding > 0 or (len(self._entries) >= self.backlog_limit and self._receiver_bound())

    async def room(self) -> None:
        """Return once the outbox is down to half its limit, or nobody bound takes it, or after
        `hold_limit_s`: the SMSC answers a submission then."""
        if not self.full:
            return
        self.held += 1
        self._holding += 1
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.hold_limit_s):
                    while len(self._entries) > self.backlog_limit // 2 and self._receiver_bound():
                        self._drained.clear()
                        await self._drained.wait()
        finally:
            self._holding -= 1

    @property
    def settled(self) -> bool:
        """Nothing left that a bound ESME could take now: no entry waits for a receiver that is
        bound, and every entry sent was answered."""
        return self._unanswered == 0 and not (self._entries and self._receiver_bound())

    def _receiver_bound(self) -> bool:
        return any(s.system_id == self.system_id and s.state in _RECEIVING for s in self._sessions())

    def put(self, *pdus: DeliverSm | DataSm) -> None:
        """Queue PDUs, each an entry of its own (the parts of one message included)."""
        self._entries.extend(pdus)
        self.wake()

    def owed(self) -> list[DeliverSm | DataSm]:
        """Every entry not yet taken by the ESME, in the order they would go out (those waiting
        to be tried again first). Entries sent and not answered yet are not among them."""
        return [*self._retrying, *self._entries]

    def wake(self) -> None:
        """Something changed (an entry, a bind): let idle workers look again."""
        self._wake.set()

    def start(self) -> None:
        if not self._tasks:
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._work()) for _ in range(self._workers)]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        await cancel_and_wait(tasks)

    def _session(self) -> ServerSession | None:
        bound = [s for s in self._sessions() if s.system_id == self.system_id and s.state in _RECEIVING]
        if not bound:
            return None
        self._turn += 1
        return bound[self._turn % len(bound)]

    async def _work(self) -> None:
        while True:
            session = self._session() if self._entries else None
            if session is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(POLL_INTERVAL):
                        await self._wake.wait()
                continue
            entry = self._entries.popleft()
            if len(self._entries) <= self.backlog_limit // 2:
                self._drained.set()
            try:
                future = await session.send_request(entry)
            except asyncio.CancelledError:  # stopped while it waited for a window slot: not sent
                self._entries.appendleft(entry)
                raise
            except (SessionError, PduError) as exc:
                logger.info("sandbox outbox %s: delivery interrupted (%r), will retry", self.system_id, exc)
                self._entries.appendleft(entry)
                await asyncio.sleep(RETRY_DELAY)
                continue
            self._unanswered += 1
            future.add_done_callback(partial(self._answered, entry))

    def _answered(self, entry: DeliverSm | DataSm, future: asyncio.Future[Pdu]) -> None:
        """The answer to an entry: done, or back at the front after RETRY_DELAY."""
        self._unanswered -= 1
        if future.cancelled():
            done = False
        elif future.exception() is not None:
            logger.info("sandbox outbox %s: delivery interrupted (%r), will retry", self.system_id, future.exception())
            done = False
        else:
            done = self._done_with(future.result().command_status)
        if done:
            self.delivered += 1
        else:
            self._retrying.append(entry)
            asyncio.get_running_loop().call_later(RETRY_DELAY, self._retry, entry)

    def _retry(self, entry: DeliverSm | DataSm) -> None:
        self._retrying.remove(entry)
        self._entries.appendleft(entry)
        self.wake()

    def _done_with(self, status: int) -> bool:
        """From the ESME's answer: True when delivered or refused for good (then dropped), False
        to try again."""
        if status == 0 or not is_transient(status):
            if status:
                logger.warning("sandbox outbox %s: ESME refused deliver_sm with %#x, dropped", self.system_id, status)
            return True
        return False
