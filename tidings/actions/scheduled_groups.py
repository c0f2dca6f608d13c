"""Scheduled batches to groups: the members the groups have at `send_at`, as in XMS.

A batch with `send_at` in the future whose `to` names groups is accepted with the deliveries of
the numbers its `to` names itself (maybe none) and `batches.expand_groups_ms` set to its
`send_at` (`actions.groups.resolve_groups`, `actions.batches.do_send`); `batches.requested_to`
keeps the `to` as sent, group ids included. Once that time has come the sweeper calls
`expand_due`, which expands each such batch in one transaction (`expand_batch`):

1. the mark is cleared by a guarded update (`take_group_expansion`: still set, due, batch not
   cancelled), which is the claim: a second sweeper trying the same batch at once waits for the
   row lock (PostgreSQL; SQLite has one writer) and then finds nothing left to do;
2. the groups' members are read then (`tidings.store.groups.expand`: child groups to any depth;
   a group deleted since counts for none);
3. a delivery is written for each member not yet a recipient of the batch and not taken out by an
   update's `to_remove` (`batches.excluded_recipients`), up to `max_recipients` recipients in all:
   members past that are left out, with a warning in the log;
4. a member whose body (personalised with `parameters`) needs more parts than the batch allows is
   `Aborted` (411), and every member is `Expired` (406) when the batch's `expire_at` has passed
   already (no sweeper ran in time): written final with their `per_recipient` reports, never sent;
5. `recipient_count` becomes the batch's number of recipients.

The members' Queued deliveries are due now and unpublished: the sweeper's `publish_due`, run
right after, puts them on the dispatch queue. The mark is in the database, so an expansion
missed while no sweeper ran (a restart between acceptance and `send_at`) happens at the next start.

Cancel, update and replace lock the batch row first (`actions.batches._load`), so each goes
wholly before or after an expansion: a cancel clears the mark, an update's `to_remove` adds to
`excluded_recipients` (a `to_add` takes the number out again), a new `send_at` moves the mark,
and a replace sets it anew (or clears it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tidings.actions.batch_checks import MtText, Rendered, render_all
from tidings.actions.batches import batch_from_row, delivery_rows
from tidings.core.encoding import count_segments
from tidings.core.errors import RequestError
from tidings.core.groups import is_group_id
from tidings.core.personalize import render_body
from tidings.core.statuses import Code, Status
from tidings.gateway.deliver import record_transitions
from tidings.observability.metrics import MESSAGES_ACCEPTED, count_transitions
from tidings.runtime.context import Context
from tidings.store import groups as gq
from tidings.store.queries import batches as q
from tidings.workers import notify
from tidings.workers.writer import Transition

__all__ = ["EXPAND_LIMIT", "Expansion", "expand_batch", "expand_due"]

log = logging.getLogger(__name__)

EXPAND_LIMIT = 100
"""Batches expanded per call of `expand_due` (each its own transaction)."""

RETRY_MS = 60_000
"""How long a batch whose expansion failed (a fault, not a race) waits before it is tried again,
so that it does not hold up the batches due behind it: the expansion is in one transaction, so a
failed one wrote nothing. Its members are still sent then, or Expired if `expire_at` has passed."""


@dataclass(frozen=True)
class Expansion:
    """What expanding one batch's groups wrote: `queued` deliveries to send, `settled` ones final
    at once (Aborted for too many parts, or Expired), and how many members were `left_out` for
    the recipient limit."""

    batch_id: str
    queued: int
    settled: tuple[Transition, ...]
    left_out: int


async def expand_due(ctx: Context, limit: int = EXPAND_LIMIT) -> list[Expansion]:
    """Expand the groups of the batches whose `send_at` has come (up to `limit`, the longest
    waiting first); returns what each expansion done here wrote (not those another process did)."""
    now = ctx.clock()
    async with ctx.db.read() as conn:
        due = await q.groups_due(conn, now, limit)
    done = []
    for batch_id in due:
        try:
            expansion = await expand_batch(ctx, batch_id, now)
        except Exception:  # noqa: BLE001 - one batch that cannot be expanded must not hold up the others
            log.exception("batch %s: expanding its groups failed; tried again in %d s", batch_id, RETRY_MS // 1000)
            await _postpone(ctx, batch_id, now)
            continue
        if expansion is not None:
            done.append(expansion)
    return done


async def _postpone(ctx: Context, batch_id: str, now: int) -> None:
    try:
        async with ctx.db.write() as conn:
            await q.postpone_group_expansion(conn, batch_id, now, now + RETRY_MS)
    except Exception:  # noqa: BLE001 - the database itself is down: the next sweep tries again
        log.exception("batch %s: its expansion could not be postponed", batch_id)


async def expand_batch(ctx: Context, batch_id: str, now: int | None = None) -> Expansion | None:
    """Write the deliveries of the batch's groups' members as they are now, in one transaction;
    None when the batch has no expansion due (done already, here or by another process; cancelled;
    rescheduled later)."""
    now = ctx.clock() if now is None else now
    max_recipients = ctx.settings.max_recipients
    async with ctx.db.write() as conn:
        row = await q.take_group_expansion(conn, batch_id, now)
        if row is None:
            return None
        group_ids = [item for item in (row.requested_to or ()) if is_group_id(item)]
        expanded = await gq.expand(conn, row.project_id, group_ids)
        existing = (await q.recipients(conn, [batch_id]))[batch_id]
        taken = set(existing) | set(row.excluded_recipients or ())
        members = dict.fromkeys(number for group_id in group_ids for number in expanded.get(group_id, ()))
        new = [number for number in members if number not in taken]
        room = max(0, max_recipients - len(existing))
        left_out = max(0, len(new) - room)
        if left_out:
            log.warning("batch %s: %d members of its groups left out: at most %d recipients per batch",
                        batch_id, left_out, max_recipients)
            new = new[:room]
        text = batch_from_row(row, existing).text
        sendable, too_long = _render(text, new)
        if row.expire_at_ms <= now:  # expire_at passed before the groups could be expanded
            rows = _settled_rows(batch_id, row.project_id, [*sendable, *too_long], text, now,
                                 Status.EXPIRED, Code.INTERNAL_EXPIRY)
            queued = 0
        else:
            rows = [*_queued_rows(batch_id, row.project_id, sendable, text, now),
                    *_settled_rows(batch_id, row.project_id, too_long, text, now,
                                   Status.ABORTED, Code.EXCEEDED_PARTS_LIMIT)]
            queued = len(sendable)
        ids = await q.insert_deliveries(conn, rows)
        settled = tuple(
            Transition(delivery_id, batch_id, r["recipient"], Status.QUEUED, Status(r["status"]), r["code"], now,
                       created_ms=now)
            for delivery_id, r in zip(ids, rows, strict=True) if r["status"] != Status.QUEUED.value
        )
        await notify.enqueue(conn, await notify.recipient_reports(conn, settled, now))
        await record_transitions(conn, settled, now)
        await q.update_batch(conn, batch_id, {"recipient_count": len(existing) + len(rows)})
    MESSAGES_ACCEPTED.labels("sms").inc(len(rows))
    count_transitions(settled)
    missing = [group_id for group_id in group_ids if group_id not in expanded]
    if missing:
        log.info("batch %s: groups %s were deleted before its send_at", batch_id, ", ".join(missing))
    if not existing and not rows:
        log.info("batch %s: its groups had no members at its send_at; nothing sent", batch_id)
    return Expansion(batch_id, queued, settled, left_out)


def _render(text: MtText, numbers: Sequence[str]) -> tuple[list[Rendered], list[Rendered]]:
    """(the members' messages that may be sent, those needing more parts than the batch allows);
    the body was checked at acceptance, so only `parameters` can make one too long."""
    try:
        return render_all(text, tuple(numbers)), []
    except RequestError:
        pass
    sendable: list[Rendered] = []
    too_long: list[Rendered] = []
    for number in numbers:
        try:
            sendable.extend(render_all(text, (number,)))
        except RequestError:
            body = render_body(text.body, text.parameters, number)
            count = count_segments(body)
            too_long.append(Rendered(number, body, count.encoding, count.parts))
    return sendable, too_long


def _queued_rows(batch_id: str, project_id: str, rendered: Sequence[Rendered], text: MtText,
                 now: int) -> list[dict[str, Any]]:
    """Due now and unpublished: the sweeper's `publish_due` queues them."""
    return [{**r, "due_ms": now, "published_ms": None}
            for r in delivery_rows(batch_id, project_id, rendered, text, now)]


def _settled_rows(batch_id: str, project_id: str, rendered: Sequence[Rendered], text: MtText, now: int,
                  status: Status, code: int) -> list[dict[str, Any]]:
    """Final at once, never sent."""
    return [{**r, "status": status.value, "code": code, "due_ms": now, "published_ms": None}
            for r in delivery_rows(batch_id, project_id, rendered, text, now)]
