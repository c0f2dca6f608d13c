"""The dispatch worker: takes due delivery ids from the queue, claims them, sends them.

Claiming is a guarded update in the database, so an id handed to two workers (a republished
entry, a recovered stream entry) is sent by only one. A claim's deliveries are handed to the
router together, up to `concurrency` in flight (the connections' windows and caps do the real
pacing): no task per message — each message's outcome comes back to a callback, which gives it
to the `OutcomeWriter`.

Up to `parallel_claims` claims are prepared at once (each a few database round trips), their
send slots reserved before the take; takes from the queue go one at a time.

The worker takes only as many ids as it has free slots, and waits for the slots *before* taking:
when a capped connection holds every slot, a verification code published meanwhile is still
next in the queue (priority ids are taken first) instead of behind ids this worker already
claimed, and the cap's priority line lets it overtake the bulk messages already waiting there.

A claim is a lease (`dispatch_lease_seconds`): one not renewed within it counts as abandoned and
the sweeper publishes the message again. Messages handed to the router wait in a connection's
line for as long as its cap or window says, which can be longer than a lease, so every quarter
lease the worker renews the claims it has held that long and not yet answered (`renew_claims`);
otherwise another worker sent them as well. A failed queue ack does not hold up the claims
made: they are sent, and the entry is recovered and acked later.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
from typing import Any

from tidings.channels.base import OutboundSms, SmsRouter
from tidings.core.errors import PermanentDeliveryError, TransientDeliveryError
from tidings.core.personalize import render_body
from tidings.core.statuses import Code, Status, status_for_refusal
from tidings.policy import sms_gate
from tidings.policy.sender_gate import SenderGate
from tidings.queue.base import Taken
from tidings.runtime.context import Context
from tidings.store import deliveries as dq
from tidings.tasks import cancel_and_wait
from tidings.workers.events import Dispatched, Released, Settled
from tidings.workers.writer import OutcomeWriter

log = logging.getLogger(__name__)

MAX_RETRY_DELAY_MS = 60_000
# With fewer free slots than a quarter of `concurrency`, wait this long for more before taking
# (fewer, larger claims when sends finish fast; a bounded delay when a cap paces them).
ROOM_WAIT_SECONDS = 0.02
# Claims a worker prepares at once. A claim is a few database round trips (claim, batches, send
# policy, commit) and, on PostgreSQL and Redis, each costs a network wait: one claim at a time
# left the distributed worker idle between them. Takes from the queue stay one at a time.
PARALLEL_CLAIMS = 4


@functools.lru_cache(maxsize=256)
def binary_content(body: str, udh: str | None) -> tuple[bytes, bytes]:
    """(payload, header) of an `mt_binary` batch, from its Base64 body and hex UDH (checked when
    the batch was accepted); a batch's recipients share them."""
    return base64.b64decode(body), bytes.fromhex(udh) if udh else b""


def retry_delay_ms(attempts: int, hint_seconds: float) -> int:
    backoff = min(MAX_RETRY_DELAY_MS, 500 * 2 ** max(0, attempts - 1))
    return max(int(hint_seconds * 1000), backoff)


class DispatchWorker:
    def __init__(self, ctx: Context, router: SmsRouter, writer: OutcomeWriter, *,
                 concurrency: int = 512, take: int = 256, parallel_claims: int = PARALLEL_CLAIMS) -> None:
        self.ctx = ctx
        self.router = router
        self.writer = writer
        self.senders = SenderGate(ctx.db, ctx.clock)  # sender ID registry and policy
        self.take = take
        self.concurrency = concurrency
        self._enough_room = min(take, max(1, concurrency // 4))
        self._freed = asyncio.Event()
        self._in_flight = 0  # messages handed to the router and not yet answered
        self._reserved = 0  # send slots promised to claims being prepared
        self._taking = asyncio.Lock()
        self.parallel_claims = max(1, parallel_claims)
        self._stop: asyncio.Event | None = None
        self._claims: dict[int, int] = {}  # in the router's hands: delivery id → its claimed_ms
        self.sent = 0

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        renewing = asyncio.get_running_loop().create_task(self._renewing(), name="dispatch-claim-renewal")
        try:
            await self._run(stop)
        finally:
            await cancel_and_wait(renewing)

    async def _run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self._steps(stop) for _ in range(self.parallel_claims)))
        # Stopping: what the connections have not sent yet is released for later (a backlog
        # behind a slow or capped carrier would hold the stop for minutes); what they sent is
        # waited for, so that its outcome is recorded and it is never sent twice.
        withdrawn = self.router.withdraw_unsent()
        if withdrawn:
            log.info("stopping: %d submissions not sent yet released for later", withdrawn)
        while self._in_flight:  # every message handed over is answered, or fails, in the end
            self._freed.clear()
            await self._freed.wait()

    async def _renewing(self) -> None:
        every = self.ctx.settings.dispatch_lease_seconds / 4
        while True:
            await asyncio.sleep(every)
            try:
                await self.renew_claims()
            except Exception:  # noqa: BLE001 - tried again next time, well within the lease
                log.exception("renewing dispatch claims failed")

    async def renew_claims(self) -> int:
        """Renew the claims of messages handed to the router a quarter lease ago or more and not
        answered yet; forget those no longer this worker's. Returns how many were renewed."""
        now = self.ctx.clock()
        due = now - int(self.ctx.settings.dispatch_lease_seconds * 250)
        claims = {i: at for i, at in self._claims.items() if at <= due}
        if not claims:
            return 0
        async with self.ctx.db.write() as conn:
            renewed = set(await dq.renew_claims(conn, claims, now))
        for delivery_id in claims:
            if delivery_id not in self._claims:
                continue  # answered meanwhile
            if delivery_id in renewed:
                self._claims[delivery_id] = now
            else:
                del self._claims[delivery_id]
        if len(renewed) < len(claims):
            log.warning("%d claims lapsed before they were renewed", len(claims) - len(renewed))
        return len(renewed)

    async def _steps(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.step(timeout=0.2)
            except Exception:  # noqa: BLE001 - keep dispatching; the sweeper recovers claims
                log.exception("dispatch step failed")
                await asyncio.sleep(0.5)

    async def _room(self, timeout: float) -> int:
        """Free send slots: at once when there are enough or a priority id is waiting, else as
        many as have freed up within ROOM_WAIT_SECONDS of the first (0 after `timeout` with none)."""
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        give_up = loop.time() + timeout
        while True:
            free = self.concurrency - self._in_flight - self._reserved
            if free >= self._enough_room or (free > 0 and self.ctx.dispatch.priority_pending()):
                return free
            now = loop.time()
            if free > 0 and deadline is None:
                deadline = now + ROOM_WAIT_SECONDS
            until = deadline if deadline is not None else give_up
            if now >= until:
                return free
            self._freed.clear()
            try:
                await asyncio.wait_for(self._freed.wait(), until - now)
            except TimeoutError:
                pass


    async def _give_back(self, taken: Taken) -> None:
        """A claim that failed (the database away, a statement unanswered): its ids go back on the
        queue for the next claim, instead of waiting, unacknowledged, for the stream's recovery
        of idle entries (`stream_claim_idle_seconds`) or, in process, for the sweeper. Claimed
        after all (a commit whose answer was lost)? The next claim finds them no longer Queued."""
        try:
            await self.ctx.dispatch.publish(taken.ids, taken.priority)
            await self.ctx.dispatch.ack(taken)
        except Exception:  # noqa: BLE001 - left to the queue's recovery, as before
            log.warning("giving back %d ids after a failed claim failed too; the queue recovers them",
                        len(taken.ids))

    async def step(self, timeout: float) -> int:
        room = await self._room(timeout)
        if room <= 0:
            return 0
        want = min(self.take, room)
        self._reserved += want
        try:
            return await self._claim_and_send(want, timeout)
        finally:
            self._reserved -= want
            self._freed.set()

    async def _claim_and_send(self, want: int, timeout: float) -> int:
        async with self._taking:
            if self._stop is not None and self._stop.is_set():
                return 0  # stopping: the other claims waited here, none need a take of their own
            taken = await self.ctx.dispatch.take(want, timeout)
        if taken is None:
            return 0
        now = self.ctx.clock()
        lease = int(self.ctx.settings.dispatch_lease_seconds * 1000)
        try:
            async with self.ctx.db.write(priority=taken.priority) as conn:
                claimed = await dq.claim(conn, taken.ids, now, lease)
                batches = await dq.load_batches(conn, list({r.batch_id for r in claimed}))
                # The send policy, in the claim's transaction (deferred ones are given back here).
                refused = await sms_gate.screen(conn, claimed, batches, now) if sms_gate.enabled() else {}
        except Exception:
            await self._give_back(taken)
            raise
        try:
            await self.ctx.dispatch.ack(taken)
        except Exception:  # noqa: BLE001 - the claims are ours: send them; the entry is recovered later
            log.exception("acknowledging a dispatch take failed; sending its %d claims anyway", len(claimed))
        if not claimed:
            return 0
        sendable = []
        for row in claimed:
            batch = batches[row.batch_id]
            if batch.canceled:
                self.writer.add(Settled(row.id, Status.CANCELLED, Code.CANCELLED, now))
            elif batch.expire_at_ms <= now:
                self.writer.add(Settled(row.id, Status.EXPIRED, Code.INTERNAL_EXPIRY, now))
            elif row.id in refused:
                if refused[row.id].outcome == "reject":
                    self.writer.add(Settled(row.id, Status.REJECTED, refused[row.id].xms_code or Code.BLOCKED, now))
            else:
                sendable.append((row, batch))
        self._in_flight += len(sendable)
        for row, _ in sendable:
            self._claims[row.id] = now
        for row, batch in sendable:
            await self._send(row, batch)
        return len(claimed)

    async def _send(self, row: Any, batch: Any) -> None:
        """Hand one claimed delivery to the router; `_sent` gets its outcome, exactly once."""
        try:
            message = OutboundSms(
                delivery_id=row.id,
                sender=batch.sender,
                recipient=row.recipient,
                body=render_body(batch.body, batch.parameters, row.recipient),
                flash=bool(batch.flash_message),
                max_parts=batch.max_number_of_message_parts,
                truncate=bool(batch.truncate_concat),
                priority=bool(row.priority),
                expire_at_ms=batch.expire_at_ms,  # the carrier stops trying then (submit_sm validity_period)
                sender_ton=batch.from_ton,
                sender_npi=batch.from_npi,
            )
            if batch.type == "mt_binary":
                message.payload, message.udh = binary_content(batch.body, batch.udh)
            verdict = await self.senders.decide(batch.project_id, message.sender, message.recipient)
        except Exception as exc:  # noqa: BLE001 - a bug must not lose the message
            self._sent(row, None, None, None, exc)
            return
        if verdict.action == "reject":
            # No sender and no default originator for the country: Aborted, as XMS reports 410.
            status = Status.ABORTED if verdict.code == Code.UNMATCHED_DEFAULT_ORIGINATOR else Status.REJECTED
            self.writer.add(Settled(row.id, status, verdict.code or Code.BLOCKED, self.ctx.clock()))
            self._answered(row.id)
            return
        if verdict.sender != message.sender:  # the policy's sender: its type is detected, not the batch's
            message.sender, message.sender_ton, message.sender_npi = verdict.sender, None, None
        answered = False

        def sent(connection: str | None, smsc_ids: list[str] | None, error: BaseException | None) -> None:
            nonlocal answered
            if not answered:
                answered = True
                self._sent(row, message, connection, smsc_ids, error)

        try:
            self.router.submit(message, sent)
        except Exception as exc:  # noqa: BLE001 - a bug in a router must not lose the message
            sent(None, None, exc)

    def _sent(self, row: Any, message: OutboundSms | None, connection: str | None, smsc_ids: list[str] | None,
              error: BaseException | None) -> None:
        try:
            if error is None:
                assert message is not None and connection is not None and smsc_ids is not None
                self.sent += 1
                cost = self.router.cost_of(connection, message.recipient, len(smsc_ids))
                self.writer.add(Dispatched(row.id, connection, smsc_ids, self.ctx.clock(),
                                           (cost.amount, cost.currency) if cost is not None else None))
            elif isinstance(error, TransientDeliveryError):
                self.writer.add(Released(row.id, self.ctx.clock() + retry_delay_ms(row.attempts, error.retry_after)))
            elif isinstance(error, PermanentDeliveryError):
                self.writer.add(Settled(row.id, status_for_refusal(error.code), error.code, self.ctx.clock()))
            else:  # a bug in a connector must not lose the message
                log.error("connector failed on delivery %s", row.id, exc_info=error)
                self.writer.add(Released(row.id, self.ctx.clock() + retry_delay_ms(row.attempts, 1.0)))
        finally:
            self._answered(row.id)

    def _answered(self, delivery_id: int) -> None:
        self._claims.pop(delivery_id, None)
        self._in_flight -= 1
        self._freed.set()
