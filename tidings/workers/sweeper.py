"""The sweeper: the periodic jobs that make the pipeline whole after delays, crashes and time.

- expands the groups of scheduled batches whose `send_at` has come into their members'
  deliveries (`tidings.actions.scheduled_groups`);
- publishes deliveries that became due (scheduled `send_at`, retries after throttling),
  priority ones (verification codes) first and on the queue's priority lane;
- republishes deliveries whose worker died holding their claim, and those whose queue entry was
  lost (published before the oldest entry still open, so a long backlog is not duplicated);
- expires Queued deliveries whose batch's `expire_at` has passed, and pending verifications
  nobody asked about past their expiry (their result event is owed all the same);
- gives up on receipts that never came: a message still Dispatched when its batch's `expire_at`
  plus the receipt wait has passed becomes Unknown, so every accepted message reaches a final
  status (and its final report) even when an SMSC loses the receipt or dies holding it;
- matches receipts that arrived before their submission was recorded in another transaction,
  and drops those still unmatched after `orphan_receipt_seconds`; applies receipts a dead worker
  answered (wrote to `receipt_inbox`) but did not apply;
- stores concatenated MO whose missing parts did not come in time, with the parts that did, and
  forgets the parts of stored messages once redelivered parts are no longer expected;
- sends batch-level delivery reports for batches that are done;
- deletes webhook outbox rows finished, and messaging platforms' events applied, longer ago
  than the webhook retention period; forgets sends the frequency caps and collapse windows can
  no longer count;
- deletes SMS batches that can no longer change, and inbound messages, older than the message
  retention period (`tidings.store.retention`), and Conversation API messages as their apps'
  retention policies say (`tidings.conversations.retention`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.actions import scheduled_groups, verifications
from tidings.conversations import app_events
from tidings.conversations import events as channel_events
from tidings.conversations import retention as conversation_retention
from tidings.core.statuses import Code, Status
from tidings.observability.metrics import MESSAGES_PURGED, ORPHAN_RECEIPTS_DROPPED
from tidings.policy import caps
from tidings.policy.settings import MAX_WINDOW_SECONDS
from tidings.runtime.context import Context
from tidings.store import deliveries as dq
from tidings.store import gateway as gateway_queries
from tidings.store import mo_parts as mq
from tidings.store import receipts as rq
from tidings.store import retention
from tidings.store.queries import policy as policy_queries
from tidings.webhooks import outbox
from tidings.workers import batch_reports
from tidings.workers.events import MoPartsOverdue, Receipt, Settled
from tidings.workers.publishing import publish_or_unpublish
from tidings.workers.writer import OutcomeWriter

log = logging.getLogger(__name__)

PUBLISH_LIMIT = 5000
# Deliveries deleted per write transaction by the retention purge: one chunk holds SQLite's
# write lock for tens of milliseconds, not the seconds a large backlog of old batches would take.
PURGE_CHUNK = 2000
# Chunks a purge job deletes per round (every `purge_every`): 100,000 rows per job every 10 min
# keeps up with millions of messages a day, and holds up the sweeper's other work for a second
# or so at most when a large backlog of old rows is first worked off.
PURGE_ROUND_CHUNKS = 50
# Batches past their receipt deadline looked at per transaction, and transactions per round.
RECEIPT_BATCHES_PER_CHUNK = 500
RECEIPT_ROUND_CHUNKS = 50


IDLE_INTERVAL = 1.0
"""The longest wait between rounds that found nothing to expand or publish: the wait doubles from
`interval` while rounds find nothing, up to this, and is back at `interval` once one finds work.
It bounds how late an idle platform notices a scheduled batch or a retry coming due. Polled every
0.1 s, an idle `tidings serve` spent ~6 % of a core, ~60 % of it in these rounds (py-spy, 30 s)."""

STALE_JOBS = ("republish_stale", "expire_overdue", "expire_verifications", "give_up_on_receipts",
              "apply_inbox_left_behind", "rematch_orphans", "drop_stale_orphans", "store_overdue_mo")
"""The jobs run every `stale_every` seconds, in this order."""
PURGE_JOBS = ("purge_webhooks", "purge_smpp_outbox", "purge_mo_parts", "purge_old_messages",
              "purge_old_verifications", "purge_policy_decisions", "purge_conversation_messages",
              "purge_channel_events", "purge_app_events", "purge_policy_ledger")
"""The jobs run every `purge_every` seconds, in this order."""


class Sweeper:
    def __init__(self, ctx: Context, writer: OutcomeWriter, *, interval: float = 0.1,
                 idle_interval: float = IDLE_INTERVAL, stale_every: float = 5.0,
                 reports_every: float = 0.5, purge_every: float = 600.0) -> None:
        self.ctx = ctx
        self.writer = writer
        self.interval = interval
        self.idle_interval = max(idle_interval, interval)
        self.rounds = 0
        """Rounds run so far (for tests and diagnostics)."""
        self.stale_every = stale_every
        self.reports_every = reports_every
        self._last_stale = 0.0
        self._last_reports = 0.0
        self.purge_every = purge_every
        self._last_purge = 0.0
        self._verifications_expired_to = 0  # every pending verification expiring by then is done

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        wait = self.interval
        while not stop.is_set():
            self.rounds += 1
            expanded = await self._job("expand_scheduled_groups", self.expand_scheduled_groups) or 0
            published = await self._job("publish_due", self.publish_due) or 0
            busy = published == PUBLISH_LIMIT or expanded == scheduled_groups.EXPAND_LIMIT
            wait = self.interval if (expanded or published) else min(wait * 2, self.idle_interval)
            now = loop.time()
            if now - self._last_stale >= self.stale_every:
                self._last_stale = now
                for name in STALE_JOBS:
                    await self._job(name, getattr(self, name))
            if now - self._last_reports >= self.reports_every:
                self._last_reports = now
                await self._job("report_done_batches", lambda: batch_reports.report_done_batches(self.ctx))
            if now - self._last_purge >= self.purge_every:
                self._last_purge = now
                for name in PURGE_JOBS:
                    await self._job(name, getattr(self, name))
            if not busy:
                try:
                    await asyncio.wait_for(stop.wait(), wait)
                except TimeoutError:
                    pass

    async def _job(self, name: str, job: Callable[[], Awaitable[object]]) -> object:
        """Run one job; a failure is logged and the next round tries it again, and the other
        jobs run meanwhile (one that keeps failing must not hold them up)."""
        try:
            return await job()
        except Exception:  # noqa: BLE001 - the next round retries
            log.exception("sweep job %s failed", name)
            return None

    async def expand_scheduled_groups(self) -> int:
        """Scheduled batches to groups whose `send_at` has come: their groups' members as they are
        now become deliveries, which `publish_due` (run next) queues. Returns how many batches."""
        return len(await scheduled_groups.expand_due(self.ctx))

    async def publish_due(self) -> int:
        """Deliveries due and not on the queue (scheduled, released for a retry) go on it;
        returns how many."""
        async with self.ctx.db.write() as conn:
            rows = await dq.publish_due(conn, self.ctx.clock(), PUBLISH_LIMIT)
        await self._publish(rows)
        return len(rows)

    async def _publish(self, rows: list[tuple[int, bool]]) -> None:
        """Priority deliveries first, on the queue's priority lane. When the queue cannot be
        reached they are marked unpublished again, for the next round (not a lease later)."""
        await publish_or_unpublish(self.ctx, [i for i, priority in rows if priority], priority=True)
        await publish_or_unpublish(self.ctx, [i for i, priority in rows if not priority])

    async def republish_stale(self) -> int:
        # A claim past its lease belongs to a dead worker, which acknowledged the queue entry
        # when it claimed: nothing else will bring it back, whatever is queued. An unclaimed
        # delivery still has its entry unless it was published before the oldest entry still
        # open (acknowledged entries are gone, so the queue holds only open work): under steady
        # load the queue is never drained, and those lost with a Redis restart must not wait for
        # it. A lease of margin covers the clocks of the processes and of Redis.
        lease = int(self.ctx.settings.dispatch_lease_seconds * 1000)
        open_since = await self.ctx.dispatch.open_since_ms()
        now = self.ctx.clock()
        lost_before = now - lease if open_since is None else min(now, open_since) - lease
        async with self.ctx.db.write() as conn:
            rows = await dq.republish_stale(conn, now, lease, PUBLISH_LIMIT,
                                            unclaimed_published_before=lost_before)
        if rows:
            log.info("republishing %d deliveries whose worker or queue entry was lost", len(rows))
        await self._publish(rows)
        return len(rows)

    async def expire_overdue(self) -> int:
        now = self.ctx.clock()
        async with self.ctx.db.read() as conn:
            ids = await dq.overdue_queued(
                conn, now, int(self.ctx.settings.dispatch_lease_seconds * 1000), PUBLISH_LIMIT
            )
        if ids:
            await self.writer.apply([Settled(i, Status.EXPIRED, Code.INTERNAL_EXPIRY, now) for i in ids])
        return len(ids)

    async def expire_verifications(self) -> int:
        """Pending verifications past their expiry become FAIL "Expired", with their result
        event. Only expiries since the last round are looked at (the first round looks at all)."""
        finished, self._verifications_expired_to = await verifications.expire_overdue(
            self.ctx, self._verifications_expired_to)
        if finished:
            log.info("verification: %d expired unreported", finished)
        return finished

    async def give_up_on_receipts(self) -> int:
        """Messages still Dispatched once their batch's expire_at plus the receipt wait has passed
        become Unknown with code 401 (dispatched to the SMSC, nothing heard since), and their
        batches stop waiting. A batch with a delivery still Queued is left for `expire_overdue`
        (or the worker sending it) and looked at again next round. A receipt that comes later
        still moves the message on (Unknown → Delivered …). Returns how many became Unknown."""
        wait_ms = int(self.ctx.settings.receipt_wait_seconds * 1000)
        unknown = 0
        for _ in range(RECEIPT_ROUND_CHUNKS):
            now = self.ctx.clock()
            async with self.ctx.db.read() as conn:
                batch_ids = await dq.batches_past_receipt_deadline(conn, now - wait_ms, RECEIPT_BATCHES_PER_CHUNK)
                unsettled = await dq.unsettled_deliveries(conn, batch_ids, PUBLISH_LIMIT)
            dispatched = [i for i, _, status in unsettled if status == Status.DISPATCHED.value]
            if dispatched:
                await self.writer.apply([Settled(i, Status.UNKNOWN, Code.DISPATCHED, now) for i in dispatched])
                unknown += len(dispatched)
            if len(unsettled) >= PUBLISH_LIMIT:
                if dispatched:
                    continue  # these batches have more: close them once all is read
                break  # a chunk's worth still Queued: `expire_overdue` goes first
            still_queued = {batch_id for _, batch_id, status in unsettled if status == Status.QUEUED.value}
            closing = [b for b in batch_ids if b not in still_queued]
            if closing:
                async with self.ctx.db.write() as conn:
                    await dq.close_receipts(conn, closing, now)
            if len(batch_ids) < RECEIPT_BATCHES_PER_CHUNK or not closing:
                break  # all done, or only batches waiting on Queued messages are left
        if unknown:
            log.warning("%d messages got no receipt by their batch's expiry and the receipt wait: Unknown", unknown)
        return unknown

    async def rematch_orphans(self) -> int:
        # Read, not taken: the writer deletes each orphan in the transaction that records it.
        # Two sweepers may record one twice; the second is a duplicate receipt and changes nothing.
        async with self.ctx.db.read() as conn:
            rows = await rq.match_orphans(conn, PUBLISH_LIMIT)
        if rows:
            await self.writer.apply([Receipt.stored(r, orphan_id=r.id) for r in rows])
        return len(rows)

    async def apply_inbox_left_behind(self) -> int:
        """Receipts a worker answered (wrote to `receipt_inbox`) and died before applying, once
        `receipt_inbox_grace_seconds` old (its own writer applies each within moments; one
        applied twice changes nothing). The writer deletes each row in the transaction that
        applies it, so a sweeper that dies here too leaves them for the next."""
        async with self.ctx.db.read() as conn:
            grace_ms = int(self.ctx.settings.receipt_inbox_grace_seconds * 1000)
            rows = await rq.inbox_left_behind(conn, self.ctx.clock() - grace_ms, PUBLISH_LIMIT)
        if rows:
            await self.writer.apply([Receipt.stored(r, inbox_id=r.id) for r in rows])
        return len(rows)

    async def drop_stale_orphans(self) -> int:
        """Receipts no submission matched within `orphan_receipt_seconds` (run after
        `rematch_orphans`, which applies any that match, however old): a submission is recorded
        within moments of its answer (or, its worker lost, sent again under a new id), so these
        name messages we did not send; kept, they would grow the table and every rematch."""
        cutoff = self.ctx.clock() - int(self.ctx.settings.orphan_receipt_seconds * 1000)
        async with self.ctx.db.write() as conn:
            dropped = await rq.purge_orphans(conn, cutoff)
        if dropped:
            ORPHAN_RECEIPTS_DROPPED.inc(dropped)
            log.warning("dropped %d receipts whose message id matched no submission", dropped)
        return dropped

    async def store_overdue_mo(self) -> int:
        """Concatenated MO still missing parts `mo_reassembly_seconds` after a part came: stored
        with what arrived (by the writer, which checks again under the group's lock)."""
        cutoff = self.ctx.clock() - int(self.ctx.settings.mo_reassembly_seconds * 1000)
        async with self.ctx.db.read() as conn:
            groups = await mq.overdue_groups(conn, cutoff, PUBLISH_LIMIT)
        if groups:
            await self.writer.apply([MoPartsOverdue(group) for group in groups])
        return len(groups)

    async def purge_mo_parts(self) -> int:
        cutoff = self.ctx.clock() - int(self.ctx.settings.mo_reassembly_seconds * 1000)
        async with self.ctx.db.write() as conn:
            return await mq.purge_assembled(conn, cutoff)

    async def purge_webhooks(self) -> int:
        cutoff = self.ctx.clock() - int(self.ctx.settings.webhook_retention_seconds * 1000)
        async with self.ctx.db.write() as conn:
            return await outbox.purge_finished(conn, cutoff)

    async def purge_smpp_outbox(self) -> int:
        """deliver_sm queued for the SMPP gateway's customers (receipts, MO) created longer ago than
        `webhook_retention_seconds`: delivered, or given up after their maximum age."""
        cutoff = self.ctx.clock() - int(self.ctx.settings.webhook_retention_seconds * 1000)
        return await self._in_chunks(lambda conn: gateway_queries.purge_outbox(conn, cutoff, PURGE_CHUNK))

    async def purge_old_messages(self) -> tuple[int, int]:
        """Batches that can no longer change, and inbounds, older than `message_retention_seconds`
        (0: kept for good); returns (deliveries, inbounds) deleted. The old batches in id order, a
        chunk at a time, each chunk its own transaction."""
        keep = self.ctx.settings.message_retention_seconds
        if keep <= 0:
            return 0, 0
        cutoff = self.ctx.clock() - int(keep * 1000)
        purged = 0
        after = ""
        for _ in range(PURGE_ROUND_CHUNKS):
            async with self.ctx.db.read() as conn:
                candidates = await retention.expired_batches(conn, cutoff, after, PURGE_CHUNK)
            if candidates:
                after = candidates[-1][0]
            chunk: list[str] = []
            size = 0
            for batch_id, recipients in candidates:
                if chunk and size + recipients > PURGE_CHUNK:
                    purged += await self._delete_batches(chunk, cutoff)
                    chunk, size = [], 0
                chunk.append(batch_id)
                size += recipients
            purged += await self._delete_batches(chunk, cutoff)
            if len(candidates) < PURGE_CHUNK:
                break
        inbound = await self._in_chunks(lambda conn: retention.delete_inbounds(conn, cutoff, PURGE_CHUNK))
        if purged or inbound:
            MESSAGES_PURGED.labels("delivery").inc(purged)
            MESSAGES_PURGED.labels("inbound").inc(inbound)
            log.info("retention: deleted %d messages of old batches and %d inbound messages", purged, inbound)
        return purged, inbound

    async def purge_old_verifications(self) -> int:
        """Verifications that expired more than `message_retention_seconds` ago (0: kept)."""
        keep = self.ctx.settings.message_retention_seconds
        if keep <= 0:
            return 0
        cutoff = self.ctx.clock() - int(keep * 1000)
        deleted = await self._in_chunks(lambda conn: retention.delete_verifications(conn, cutoff, PURGE_CHUNK))
        if deleted:
            MESSAGES_PURGED.labels("verification").inc(deleted)
            log.info("retention: deleted %d verifications", deleted)
        return deleted

    async def purge_policy_decisions(self) -> int:
        """Refusals and deferrals recorded more than `message_retention_seconds` ago (0: kept):
        the messages they were about are gone by then."""
        keep = self.ctx.settings.message_retention_seconds
        if keep <= 0:
            return 0
        cutoff = self.ctx.clock() - int(keep * 1000)
        return await self._in_chunks(lambda conn: policy_queries.purge_decisions(conn, cutoff, PURGE_CHUNK))

    async def _delete_batches(self, batch_ids: list[str], cutoff: int) -> int:
        if not batch_ids:
            return 0
        async with self.ctx.db.write() as conn:
            return (await retention.delete_batches(conn, batch_ids, cutoff))[1]

    async def purge_conversation_messages(self) -> int:
        """Conversation API messages (and conversations) the apps' retention policies let go;
        returns how many messages went."""
        now = self.ctx.clock()
        deleted = await self._in_chunks(
            lambda conn: conversation_retention.purge_app_messages(conn, now, PURGE_CHUNK))
        if deleted:
            MESSAGES_PURGED.labels("conversation").inc(deleted)
            log.info("retention: deleted %d Conversation API messages", deleted)
        return deleted

    async def purge_channel_events(self) -> int:
        """Messaging platforms' events applied longer ago than `webhook_retention_seconds`."""
        cutoff = self.ctx.clock() - int(self.ctx.settings.webhook_retention_seconds * 1000)
        return await self._in_chunks(lambda conn: channel_events.purge_processed(conn, cutoff, PURGE_CHUNK))

    async def purge_app_events(self) -> int:
        """Conversation API app events (`events:send`) finished and accepted longer ago than
        `webhook_retention_seconds`."""
        cutoff = self.ctx.clock() - int(self.ctx.settings.webhook_retention_seconds * 1000)
        return await self._in_chunks(lambda conn: app_events.purge_finished(conn, cutoff, PURGE_CHUNK))

    async def purge_policy_ledger(self) -> int:
        """Sends older than any cap or collapse window can reach (a week; collapse windows are at
        most `MAX_WINDOW_SECONDS`, 30 days) no longer count for anything."""
        cutoff = self.ctx.clock() - max(caps.WEEK_MS, MAX_WINDOW_SECONDS * 1000)
        return await self._in_chunks(lambda conn: policy_queries.purge_sends(conn, cutoff, PURGE_CHUNK))

    async def _in_chunks(self, purge: Callable[[AsyncConnection], Awaitable[int]]) -> int:
        """`purge` (deleting up to PURGE_CHUNK rows) in transactions of its own until it finds
        fewer, at most PURGE_ROUND_CHUNKS times: a large backlog is worked off over several
        rounds, the sweeper's other work going on in between."""
        deleted = 0
        for _ in range(PURGE_ROUND_CHUNKS):
            async with self.ctx.db.write() as conn:
                chunk = await purge(conn)
            deleted += chunk
            if chunk < PURGE_CHUNK:
                break
        return deleted
