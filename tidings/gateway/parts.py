"""Concatenated submit_sm made whole, durably: each part is stored, then answered; the message is
sent with its last part.

A customer's ESME sends the parts of a long message as separate submit_sm: pipelined in its
window, or one at a time waiting for each answer (a synchronous client, a window of 1), and over
any of its binds (several `tidings smpp` processes behind a load balancer). Each part is written
to `smpp_submit_parts` before it is answered ESME_ROK with the id the message's batch will have
(the same for every part). The transaction that stores the last part claims the message
(`claimed_ms`), and the message is sent as one batch with that id (`sending.send_message`).

- The send action refuses the whole message (its text, policy, the numbers): the last part is
  answered with the refusal's status; the earlier parts were accepted already, so the message
  gets a REJECTD receipt (when failures are to be reported) and its parts are deleted.
- A part submitted again while the message waits replaces the stored copy. Once the message is
  claimed, a part under its reference starts a new message: a part submitted again then (its
  answer was lost) is sent again, as a message of its own — sent twice rather than lost, since
  the same text may be meant to go twice.
- Parts that stop coming: `PartsSweeper` sends what arrived once the newest part is `timeout`
  seconds old (logged as incomplete) — the parts were acknowledged, so they are not dropped.
- A process that stops between claiming a message and committing its batch, or a send that
  fails (the last part is answered ESME_ROK all the same: the message is stored): `PartsSweeper`
  sends claimed messages still without a batch after `CLAIM_TIMEOUT`; a send that was committed
  after all cannot happen twice (the batch id is the primary key: `do_send` raises
  `IntegrityError`). The parts of a message whose batch exists are deleted by the sweeper.

The payloads are joined before they are decoded (`submit.text_of`): a UCS-2 surrogate pair or a
GSM escape may straddle two parts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tidings.core.encoding import Udh
from tidings.core.ids import ulid
from tidings.gateway.sending import Tons, refusal_receipt, send_message
from tidings.gateway.submit import Answer, Submission, is_flash
from tidings.runtime.context import Context
from tidings.smpp.constants import CommandStatus
from tidings.store import gateway as gq
from tidings.store import submit_parts as sq
from tidings.store.db import Database
from tidings.store.schema import batches
from tidings.tasks import cancel_and_wait

__all__ = ["CLAIM_TIMEOUT", "REASSEMBLY_TIMEOUT", "PartsSweeper", "Stored", "send_claimed", "store_part"]

log = logging.getLogger(__name__)

REASSEMBLY_TIMEOUT = 30.0
"""Seconds after a message's newest part before what arrived is sent without the rest."""
CLAIM_TIMEOUT = 60.0
"""Seconds a claimed message may go without its batch before another process sends it."""


@dataclass(frozen=True, slots=True)
class Stored:
    """A part stored: the id to answer it with, and every part of its message when this one
    completed it (claimed: send them with `send_claimed`)."""

    message_id: str
    claimed: list[Any] | None = None


async def store_part(db: Database, system_id: str, part: Submission, tons: Tons, now: int) -> Stored:
    """Store one part of a concatenated message; durable when it returns."""
    assert part.udh is not None
    key = (system_id, part.source, part.destination, part.udh.reference, part.udh.total)
    async with db.write() as conn:
        await sq.lock_groups(conn, [key])
        rows = await sq.waiting_parts(conn, key)
        message_id = rows[0].message_id if rows else ulid()
        same = next((row for row in rows if row.sequence == part.udh.sequence), None)
        if same is not None:
            await sq.delete_part(conn, message_id, same.sequence)  # replaced by the copy submitted again
            rows.remove(same)
        await sq.insert_part(conn, {
            "message_id": message_id, "sequence": part.udh.sequence, "system_id": key[0], "source": key[1],
            "destination": key[2], "reference": key[3], "total": key[4], "data_coding": part.data_coding,
            "payload": part.payload, "registered_delivery": part.registered_delivery,
            "send_at_ms": part.send_at_ms, "expire_at_ms": part.expire_at_ms,
            "source_addr_ton": tons[0], "source_addr_npi": tons[1], "dest_addr_ton": tons[2],
            "dest_addr_npi": tons[3], "received_ms": now, "claimed_ms": None,
        })
        if len(rows) + 1 < part.udh.total:
            return Stored(message_id)
        await sq.claim(conn, message_id, now)
        return Stored(message_id, await sq.message_parts(conn, message_id))


def _submission(row: Any) -> Submission:
    return Submission(
        source=row.source, destination=row.destination, payload=bytes(row.payload), data_coding=row.data_coding,
        udh=Udh(row.reference, row.total, row.sequence), flash=is_flash(row.data_coding),
        registered_delivery=row.registered_delivery, send_at_ms=row.send_at_ms, expire_at_ms=row.expire_at_ms,
    )


async def _batch_exists(db: Database, batch_id: str) -> bool:
    async with db.read() as conn:
        return (await conn.execute(select(batches.c.id).where(batches.c.id == batch_id))).first() is not None


async def send_claimed(ctx: Context, account: gq.Account, rows: Sequence[Any]) -> Answer:
    """Send the message that claimed `rows` (its parts, by sequence) make, as the batch with
    their message id; the answer for the part that completed it."""
    first = rows[0]
    message_id = first.message_id
    parts = [_submission(row) for row in rows]
    tons = (first.source_addr_ton, first.source_addr_npi, first.dest_addr_ton, first.dest_addr_npi)
    if len(rows) < first.total:
        log.warning("smpp gateway: %s concatenated message %s to %s sent with %d of its %d parts",
                    account.system_id, message_id, first.destination, len(rows), first.total)
    try:
        status, batch_id = await send_message(ctx, account, parts, tons, batch_id=message_id)
    except IntegrityError:
        if await _batch_exists(ctx.db, message_id):
            return CommandStatus.ESME_ROK, message_id  # sent already, by the process that claimed it first
        raise
    if status == CommandStatus.ESME_ROK:
        return status, batch_id
    now = ctx.clock()
    receipt = refusal_receipt(account, message_id, parts, tons, status, first.received_ms, now)
    async with ctx.db.write() as conn:
        await sq.delete_message(conn, message_id)
        if receipt is not None:
            await gq.enqueue(conn, [receipt])
    return status, ""


class PartsSweeper:
    """Sends the messages whose parts stopped coming, and those a stopped process had claimed;
    deletes the parts of sent messages. Run by each gateway (any of them may take any message:
    its batch id keeps it from being sent twice)."""

    def __init__(self, ctx: Context, *, timeout: float = REASSEMBLY_TIMEOUT, claim_timeout: float = CLAIM_TIMEOUT,
                 interval: float = 1.0, batch: int = 100) -> None:
        self.ctx = ctx
        self.timeout = timeout
        self.claim_timeout = claim_timeout
        self.interval = interval
        self.batch = batch
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("smpp gateway: sweeping concatenated parts failed; trying again")
            await asyncio.sleep(self.interval)

    async def run_once(self) -> int:
        """One pass; the number of messages sent (or refused)."""
        now = self.ctx.clock()
        received_before = now - int(self.timeout * 1000)
        async with self.ctx.db.read() as conn:
            overdue = await sq.overdue(conn, received_before, self.batch)
            unsent = await sq.claimed_unsent(conn, now - int(self.claim_timeout * 1000), self.batch)
            done = await sq.sent(conn, self.batch)
        count = 0
        for message_id in overdue:
            rows = await self._claim_overdue(message_id, received_before, now)
            if rows:
                count += await self._send(rows)
        for message_id in unsent:
            async with self.ctx.db.read() as conn:
                rows = await sq.message_parts(conn, message_id)
            if rows:  # claimed: a failed send is tried again on a later pass
                count += await self._send(rows)
        if done:
            async with self.ctx.db.write() as conn:
                for message_id in done:
                    await sq.delete_message(conn, message_id)
        return count

    async def _claim_overdue(self, message_id: str, received_before: int, now: int) -> list[Any]:
        """The message's parts, claimed, if it is still waiting and overdue (a part may have come
        since it was listed)."""
        async with self.ctx.db.write() as conn:
            rows = await sq.message_parts(conn, message_id)
            if rows:
                first = rows[0]
                await sq.lock_groups(conn, [(first.system_id, first.source, first.destination, first.reference,
                                             first.total)])
                rows = await sq.message_parts(conn, message_id)
            if not rows or rows[0].claimed_ms is not None or max(r.received_ms for r in rows) >= received_before:
                return []
            await sq.claim(conn, message_id, now)
            return await sq.message_parts(conn, message_id)

    async def _send(self, rows: Sequence[Any]) -> int:
        system_id = rows[0].system_id
        async with self.ctx.db.read() as conn:
            account = await gq.account(conn, system_id)
        if account is None:
            log.error("smpp gateway: account %s is gone; its concatenated message %s is not sent",
                      system_id, rows[0].message_id)
            async with self.ctx.db.write() as conn:
                await sq.delete_message(conn, rows[0].message_id)
            return 0
        try:
            await send_claimed(self.ctx, account, rows)
        except Exception:  # noqa: BLE001 - one message must not hold up the others; retried after claim_timeout
            log.exception("smpp gateway: sending concatenated message %s failed", rows[0].message_id)
            return 0
        return 1
