"""XMS batches (`mt_text` and `mt_binary`): send, cancel, replace, update, dry run. The only code
that writes batches.

Send is the product's hottest path: the batch row and one delivery row per recipient go to the
group committer (shared transactions, durable before the 2xx), then due deliveries are published
to the dispatch queue. A failed publish is not the caller's problem: the sweeper republishes
every due, unpublished delivery.

Idempotency: with an `Idempotency-Key`, the batch stores the key and a SHA-256 of the canonical
request body, unique per project. The same key with the same body returns the first batch (also
when concurrent retries race: the unique constraint decides, the loser reads the winner's batch);
the same key with another body is a 409.

`max_number_of_message_parts`: a recipient whose message needs more parts (and is not cut to
them by `truncate_concat`) does not refuse the batch; as in XMS its message is never sent, but
written final, Aborted with 411, with its `per_recipient` report, in the transaction that
accepts it (send and replace) or changes it (update). A send with such a recipient is written
in a transaction of its own rather than through the group committer.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Row, Table
from sqlalchemy.exc import IntegrityError

from tidings.actions.batch_checks import (
    MAX_EXPIRY_MS,
    MT_BINARY,
    MtBinary,
    MtText,
    Rendered,
    UpdateRequest,
    apply_update,
    check_send_rendered,
    check_update,
    exceeds_parts_limit,
    invalid,
    render_accepted,
    validate_numbers_in_slices,
)
from tidings.actions.groups import GroupSend, resolve_groups
from tidings.core.encoding import Encoding
from tidings.core.errors import NotFound, RequestError
from tidings.core.ids import ulid
from tidings.core.statuses import Code, Status
from tidings.gateway.deliver import record_transitions
from tidings.observability.metrics import MESSAGES_ACCEPTED, count_transitions
from tidings.policy.content_safety import Finding, dry_run_warnings
from tidings.policy.settings import PolicySettings
from tidings.runtime.context import Context
from tidings.store import schema
from tidings.store.queries import batches as q
from tidings.workers import notify
from tidings.workers.publishing import publish_or_unpublish
from tidings.workers.writer import Transition

log = logging.getLogger(__name__)
QUEUED = Status.QUEUED.value

CONFLICT = "conflict"
ALREADY_DISPATCHED = "batch_already_dispatched"
MAX_IDEMPOTENCY_KEY = 200
DRY_RUN_DEFAULT_RECIPIENTS = 100
DRY_RUN_MAX_RECIPIENTS = 1000


@dataclass(frozen=True)
class Batch:
    """A batch as the API shows it; `requested_to`: the `to` as sent when it named groups (then
    `text.to` holds their members)."""

    id: str
    text: MtText
    created_ms: int
    modified_ms: int
    canceled: bool
    requested_to: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SendResult:
    batch: Batch
    created: bool


def batch_from_row(row: Row[Any], recipients: Sequence[str]) -> Batch:
    requested = tuple(row.requested_to) if row.requested_to is not None else None
    if row.type == MT_BINARY:
        return Batch(row.id, _binary_from_row(row, recipients), row.created_ms, row.modified_ms, bool(row.canceled),
                     requested)
    text = MtText(
        to=tuple(recipients),
        sender=row.sender,
        body=row.body,
        parameters=row.parameters,
        delivery_report=row.delivery_report,
        callback_url=row.callback_url,
        client_reference=row.client_reference,
        send_at_ms=row.send_at_ms,
        expire_at_ms=row.expire_at_ms,
        max_number_of_message_parts=row.max_number_of_message_parts,
        truncate_concat=row.truncate_concat,
        flash_message=bool(row.flash_message),
        feedback_enabled=bool(row.feedback_enabled),
        purpose=row.purpose or "information",
        collapse_key=row.collapse_key,
        sender_ton=row.from_ton,
        sender_npi=row.from_npi,
    )
    return Batch(row.id, text, row.created_ms, row.modified_ms, bool(row.canceled), requested)


def _binary_from_row(row: Row[Any], recipients: Sequence[str]) -> MtBinary:
    return MtBinary(
        to=tuple(recipients),
        sender=row.sender,
        body=row.body,
        parameters=None,
        delivery_report=row.delivery_report,
        callback_url=row.callback_url,
        client_reference=row.client_reference,
        send_at_ms=row.send_at_ms,
        expire_at_ms=row.expire_at_ms,
        max_number_of_message_parts=None,
        truncate_concat=None,
        flash_message=False,
        feedback_enabled=bool(row.feedback_enabled),
        purpose=row.purpose or "information",
        sender_ton=row.from_ton,
        sender_npi=row.from_npi,
        udh=row.udh,
    )


def _text_columns(text: MtText) -> dict[str, Any]:
    """The batch row's content columns (both kinds: a replace may change the kind)."""
    return {
        "type": text.kind,
        "udh": text.udh if isinstance(text, MtBinary) else None,
        "sender": text.sender,
        "body": text.body,
        "parameters": text.parameters,
        "delivery_report": text.delivery_report,
        "callback_url": text.callback_url,
        "client_reference": text.client_reference,
        "send_at_ms": text.send_at_ms,
        "expire_at_ms": text.expire_at_ms,
        "max_number_of_message_parts": text.max_number_of_message_parts,
        "truncate_concat": text.truncate_concat,
        "flash_message": text.flash_message,
        "feedback_enabled": text.feedback_enabled,
        "purpose": text.purpose,
        "collapse_key": text.collapse_key,
        "from_ton": text.sender_ton,
        "from_npi": text.sender_npi,
        "recipient_count": len(text.to),
    }


def _due(text: MtText, now: int) -> tuple[int, int | None]:
    """(due_ms, published_ms) of a new delivery: published at once unless scheduled later."""
    if text.send_at_ms is not None and text.send_at_ms > now:
        return text.send_at_ms, None
    return now, now


def delivery_rows(batch_id: str, project_id: str, rendered: Sequence[Rendered], text: MtText, now: int,
                  priority: bool = False) -> list[dict[str, Any]]:
    """One Queued delivery row per rendered recipient, due at `send_at` (published at once when
    that is not later than `now`); a message that exceeds the parts limit is Aborted (411) at
    once instead (`_abort_too_long`)."""
    due, published = _due(text, now)
    rows = [
        {
            "batch_id": batch_id,
            "project_id": project_id,
            "recipient": r.recipient,
            "status": Status.QUEUED.value,
            "code": Code.QUEUED,
            "encoding": r.encoding.value,
            "segments": r.parts,
            "due_ms": due,
            "published_ms": published,
            "claimed_ms": None,
            "attempts": 0,
            "status_ms": now,
            "created_ms": now,
            "priority": priority,
        }
        for r in rendered
    ]
    if text.max_number_of_message_parts is not None:
        _abort_too_long(rows, rendered, text, now)
    return rows


def _abort_too_long(rows: list[dict[str, Any]], rendered: Sequence[Rendered], text: MtText, now: int) -> None:
    """The rows whose message needs more parts than the batch allows become final: Aborted, 411,
    never published."""
    for row, r in zip(rows, rendered, strict=True):
        if exceeds_parts_limit(text, r):
            row.update(status=Status.ABORTED.value, code=Code.EXCEEDED_PARTS_LIMIT, due_ms=now, published_ms=None)


def _settled(batch_id: str, ids: Sequence[int], rows: Sequence[dict[str, Any]], now: int) -> list[Transition]:
    """The transitions of the rows written final at once (`_abort_too_long`)."""
    return [Transition(i, batch_id, r["recipient"], Status.QUEUED, Status(r["status"]), r["code"], now, created_ms=now)
            for i, r in zip(ids, rows, strict=True) if r["status"] != QUEUED]


async def _report_settled(conn: Any, transitions: Sequence[Transition], now: int) -> None:
    """The `per_recipient` reports (and SMPP receipts) of deliveries settled without sending, in
    the caller's transaction."""
    if transitions:
        await notify.enqueue(conn, await notify.recipient_reports(conn, transitions, now))
        await record_transitions(conn, transitions, now)


async def _publish(ctx: Context, ids: Sequence[int], priority: bool = False) -> None:
    """Publish committed deliveries; when the queue cannot be reached they are left to the
    sweeper's next round (`publish_or_unpublish`) and the request succeeds all the same."""
    try:
        await publish_or_unpublish(ctx, ids, priority)
    except Exception:  # noqa: BLE001 - committed: the request succeeds; the sweeper publishes them
        log.warning("dispatch publish failed for %d deliveries; the sweeper will publish them", len(ids),
                    exc_info=True)


def request_hash(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise invalid("Idempotency-Key", f"must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
    return key


async def _replay(ctx: Context, project_id: str, key: str, digest: str) -> SendResult | None:
    async with ctx.db.read() as conn:
        row = await q.by_idempotency_key(conn, project_id, key)
        if row is None:
            return None
        if row.request_hash != digest:
            raise RequestError(CONFLICT, "Idempotency-Key was already used with a different request", 409)
        recipients = (await q.recipients(conn, [row.id]))[row.id]
    return SendResult(batch_from_row(row, recipients), created=False)


async def _checked_send(
    ctx: Context, project_id: str, payload: object, now: int
) -> tuple[MtText, list[Rendered], GroupSend | None]:
    """A send or replace body checked and each recipient's message rendered; a `to` naming
    groups stands for their members (with the `to` as sent), or, when the body is scheduled for
    later, for the numbers it names itself until its groups are expanded at `send_at`
    (`resolve_groups`; `GroupSend.expand_at_ms`). Numbers are tried first, so a `to` of
    numbers pays nothing for groups."""
    await validate_numbers_in_slices(payload, "to")
    try:
        text, rendered = check_send_rendered(payload, ctx.settings, now)
        return text, rendered, None
    except RequestError:
        group_send = await resolve_groups(ctx, project_id, payload, now)
        if group_send is None:
            raise
    text, rendered = check_send_rendered(group_send.payload, ctx.settings, now,
                                         allow_empty_to=group_send.expand_at_ms is not None)
    return text, rendered, group_send


async def do_send(
    ctx: Context, project_id: str, service_plan_id: str | None, payload: object, idempotency_key: str | None = None,
    *, related: Callable[[str], Sequence[tuple[Table, list[dict[str, Any]]]]] | None = None,
    priority: bool = False, batch_id: str | None = None,
) -> SendResult:
    """Validate and accept a text batch; durable before it returns.

    `related(batch_id)` gives rows that belong with the batch (e.g. an SMPP submit's receipt
    addressing), inserted in the same transaction after it. `batch_id` is the id when one was
    promised already (an SMPP concatenated message's parts are answered before it is sent): a
    second send with it raises `IntegrityError` and sends nothing. `priority` (verification codes) commits
    it in the group committer's priority lane (ahead of bulk inserts on the write lock) and puts its
    deliveries ahead of bulk in the dispatch queue and the throughput caps."""
    now = ctx.clock()
    text, rendered, group_send = await _checked_send(ctx, project_id, payload, now)
    key = check_idempotency_key(idempotency_key)
    digest = request_hash(payload) if key is not None else None  # type: ignore[arg-type]
    if key is not None and digest is not None:
        replay = await _replay(ctx, project_id, key, digest)
        if replay is not None:
            return replay
    batch_id = batch_id or ulid()
    batch_row = {
        "id": batch_id,
        "project_id": project_id,
        "service_plan_id": service_plan_id,
        **_text_columns(text),
        "canceled": False,
        "created_ms": now,
        "modified_ms": now,
        "report_queued_ms": None,
        "idempotency_key": key,
        "request_hash": digest,
    }
    if group_send is not None:
        batch_row["requested_to"] = list(group_send.requested_to)
        batch_row["expand_groups_ms"] = group_send.expand_at_ms
    rows = delivery_rows(batch_id, project_id, rendered, text, now, priority)
    extra = list(related(batch_id)) if related is not None else []
    tables = [(schema.batches, [batch_row]), (schema.deliveries, rows), *extra]
    settled: list[Transition] = []
    try:
        if text.max_number_of_message_parts is not None and any(r["status"] != QUEUED for r in rows):
            ids, settled = await _insert_settling(ctx, batch_id, tables, rows, now)
        else:
            inserted = await ctx.committer.insert(tables, returning=frozenset({"deliveries"}), priority=priority)
            ids = inserted.get("deliveries", [])  # none for a scheduled send to groups naming no number
    except IntegrityError:
        if key is None or digest is None:
            raise
        replay = await _replay(ctx, project_id, key, digest)
        if replay is None:
            raise
        return replay
    MESSAGES_ACCEPTED.labels("sms").inc(len(rows))
    count_transitions(settled)
    if rows and _due(text, now)[1] is not None:
        await _publish(ctx, _queued(ids, rows) if settled else ids, priority)
    requested = group_send.requested_to if group_send is not None else None
    return SendResult(Batch(batch_id, text, now, now, False, requested), created=True)


async def _insert_settling(ctx: Context, batch_id: str, tables: Sequence[tuple[Table, list[dict[str, Any]]]],
                           rows: Sequence[dict[str, Any]], now: int) -> tuple[list[int], list[Transition]]:
    """A send with messages settled at once (`_abort_too_long`): its rows and their reports in one
    transaction of its own. Returns the deliveries' ids and the settled ones' transitions."""
    ids: list[int] = []
    async with ctx.db.write() as conn:
        for table, table_rows in tables:
            if table is schema.deliveries:
                ids = await q.insert_deliveries(conn, table_rows)
            else:
                await q.insert_rows(conn, table, table_rows)
        settled = _settled(batch_id, ids, rows, now)
        await _report_settled(conn, settled, now)
    return ids, settled


def _queued(ids: Sequence[int], rows: Sequence[dict[str, Any]]) -> list[int]:
    """The ids of the rows to publish: Queued and due now."""
    return [i for i, r in zip(ids, rows, strict=True) if r["status"] == QUEUED and r["published_ms"] is not None]


async def _load(conn: Any, project_id: str, batch_id: str, *, lock: bool = False) -> Row[Any]:
    """The project's batch; `lock`: until the transaction ends, so that a change and an expansion
    of the batch's groups (`tidings.actions.scheduled_groups`) go one after the other."""
    row = await q.get(conn, project_id, batch_id, for_update=lock)
    if row is None:
        raise NotFound(f"Batch {batch_id} not found")
    return row


async def do_cancel(ctx: Context, project_id: str, batch_id: str) -> Batch:
    """Cancel a batch: its not-yet-taken deliveries become Cancelled (407) with their reports
    (webhooks, and SMPP receipts for a batch submitted over SMPP that asked for them)."""
    now = ctx.clock()
    async with ctx.db.write() as conn:
        row = await _load(conn, project_id, batch_id, lock=True)
        await cancel_unsent(conn, batch_id, now)
        row = await _load(conn, project_id, batch_id)
        recipients = (await q.recipients(conn, [batch_id]))[batch_id]
    return batch_from_row(row, recipients)


async def cancel_unsent(conn: Any, batch_id: str, now: int) -> int:
    """In the caller's transaction: the batch canceled, its deliveries not yet taken Cancelled
    (407) with their reports (webhooks, and a DELETED SMPP receipt for a batch submitted over SMPP
    that asked for receipts of every outcome). Returns how many were cancelled."""
    cancelled = await q.cancel_unsent(conn, batch_id, now)
    transitions = [
        Transition(r.id, r.batch_id, r.recipient, Status.QUEUED, Status.CANCELLED, Code.CANCELLED, now)
        for r in cancelled
    ]
    await notify.enqueue(conn, await notify.recipient_reports(conn, transitions, now))
    await record_transitions(conn, transitions, now)
    return len(transitions)


async def do_replace(ctx: Context, project_id: str, batch_id: str, payload: object) -> Batch:
    """Replace a batch's content and recipients; only while none of it has been taken for sending
    (else 400 `batch_already_sent`, which the SMPP gateway's replace_sm answers with
    ESME_RREPLACEFAIL). The new content may be of the other kind (text for binary, or binary for
    text): a replace is a new batch under the old id, as XMS describes it (a cancel and a send)."""
    now = ctx.clock()
    text, rendered, group_send = await _checked_send(ctx, project_id, payload, now)
    requested = group_send.requested_to if group_send is not None else None
    expand_at = group_send.expand_at_ms if group_send is not None else None
    async with ctx.db.write() as conn:
        row = await _load(conn, project_id, batch_id, lock=True)
        if row.canceled:
            raise invalid("batch_id", "a canceled batch cannot be replaced")
        total = await q.count_deliveries(conn, batch_id)
        removed = await q.delete_not_taken(conn, batch_id)
        if removed != total:
            # Some recipient was already taken for sending: undo by raising (rolls back).
            raise RequestError("batch_already_sent",
                               "The batch has already been (partly) sent and cannot be replaced", 400)
        await q.update_batch(conn, batch_id, {**_text_columns(text), "modified_ms": now,
                                              "requested_to": list(requested) if requested is not None else None,
                                              "expand_groups_ms": expand_at, "excluded_recipients": None})
        rows = delivery_rows(batch_id, project_id, rendered, text, now)
        ids = await q.insert_deliveries(conn, rows)
        settled = _settled(batch_id, ids, rows, now)
        await _report_settled(conn, settled, now)
    MESSAGES_ACCEPTED.labels("sms").inc(len(ids))
    count_transitions(settled)
    await _publish(ctx, _queued(ids, rows))
    return Batch(batch_id, text, row.created_ms, now, False, requested)


async def do_update(ctx: Context, project_id: str, batch_id: str, payload: object) -> Batch:
    """Change a batch that has not been dispatched yet: add or remove recipients, change its
    content or schedule. Once any recipient was taken for sending it is 403
    `batch_already_dispatched`, as in XMS, and nothing changes. Its kind stays (the update is
    checked against the stored batch's type; another `type` is refused)."""
    await validate_numbers_in_slices(payload, "to_add", "to_remove")
    now = ctx.clock()
    publish: list[int] = []
    async with ctx.db.write() as conn:
        row = await _load(conn, project_id, batch_id, lock=True)
        change: UpdateRequest = check_update(payload, ctx.settings, row.type)
        if row.canceled:
            raise invalid("batch_id", "a canceled batch cannot be updated")
        states = await q.delivery_states(conn, batch_id)
        if any(q.is_taken(s.status, s.claimed_ms) for s in states):
            raise RequestError(ALREADY_DISPATCHED, "The batch has already been dispatched and cannot be updated", 403)
        current = tuple(s.recipient for s in states)
        present = set(current)
        removed = [r for r in change.to_remove if r in present]
        gone = set(removed)
        remaining = [r for r in current if r not in gone]
        staying = set(remaining)
        added = [r for r in change.to_add if r not in staying]
        recipients = tuple(remaining + added)
        waiting = row.expand_groups_ms is not None  # its groups' members come at send_at
        if not recipients and not waiting:
            raise invalid("to_remove", "a batch must keep at least one recipient")
        if len(recipients) > ctx.settings.max_recipients:
            raise invalid("to_add", f"at most {ctx.settings.max_recipients} recipients per batch")
        old = batch_from_row(row, current)
        text = apply_update(old.text, change, recipients, now, explicit_expiry=_explicit_expiry(row))
        requested = old.requested_to
        if requested is not None:  # a `to` that named groups: its numbers follow the change
            requested = tuple(r for r in requested if r not in gone) + tuple(r for r in added if r not in requested)
        if removed:
            await q.delete_not_taken(conn, batch_id, removed)
        values: dict[str, Any] = {**_text_columns(text), "modified_ms": now}
        if requested is not None:
            values["requested_to"] = list(requested)
        if waiting:
            values.update(_waiting_columns(row, change, text, now))
        await q.update_batch(conn, batch_id, values)
        rendered = {r.recipient: r for r in render_accepted(text, recipients)}
        kept = [s for s in states if s.recipient not in gone]
        settled = await _rerender(conn, batch_id, change, text, kept, rendered, now)
        if "send_at_ms" in change.changes:
            due, published = _due(text, now)
            publish += [i for i in await q.reschedule_unsent(conn, batch_id, due, published) if published is not None]
        new_rows = delivery_rows(batch_id, project_id, [rendered[r] for r in added], text, now)
        new_ids = await q.insert_deliveries(conn, new_rows)
        settled += _settled(batch_id, new_ids, new_rows, now)
        await _report_settled(conn, settled, now)
    MESSAGES_ACCEPTED.labels("sms").inc(len(new_ids))
    count_transitions(settled)
    publish += _queued(new_ids, new_rows)
    await _publish(ctx, publish)
    return Batch(batch_id, text, row.created_ms, now, False, requested)


async def _rerender(conn: Any, batch_id: str, change: UpdateRequest, text: MtText, kept: Sequence[Any],
                    rendered: Mapping[str, Rendered], now: int) -> list[Transition]:
    """After a change of content: the kept deliveries' encodings and parts, and those whose
    message now exceeds the parts limit Aborted (411). Returns their transitions."""
    if not any(k in change.changes for k in ("body", "parameters", "max_number_of_message_parts", "truncate_concat")):
        return []
    await q.set_segments(conn, [
        {"b_id": s.id, "b_encoding": rendered[s.recipient].encoding.value, "b_segments": rendered[s.recipient].parts}
        for s in kept
    ])
    over = [s.id for s in kept if s.status == QUEUED and exceeds_parts_limit(text, rendered[s.recipient])]
    aborted = await q.settle_unsent(conn, over, Status.ABORTED, Code.EXCEEDED_PARTS_LIMIT, now)
    return [Transition(r.id, batch_id, r.recipient, Status.QUEUED, Status.ABORTED, Code.EXCEEDED_PARTS_LIMIT, now)
            for r in aborted]


def _explicit_expiry(row: Row[Any]) -> bool:
    """Whether the batch's expire_at was the caller's: a default one is exactly 3 days after the
    moment its schedule counted from, its send_at or the request that set it (the send, or the
    latest update or replace; a later change of other fields may hide that one, and then an
    expire_at still valid for a new send_at is kept)."""
    start = row.expire_at_ms - MAX_EXPIRY_MS
    return start not in (row.send_at_ms, row.created_ms, row.modified_ms)


def _waiting_columns(row: Row[Any], change: UpdateRequest, text: MtText, now: int) -> dict[str, Any]:
    """An update of a batch whose groups wait for `send_at`: the numbers it removes stay out of
    the expansion (those it adds back come in again), and the expansion follows a new `send_at`
    (one already past: at once)."""
    excluded = dict.fromkeys(row.excluded_recipients or ())
    excluded.update(dict.fromkeys(change.to_remove))
    for number in change.to_add:
        excluded.pop(number, None)
    out: dict[str, Any] = {"excluded_recipients": list(excluded) or None}
    if "send_at_ms" in change.changes:
        send_at = text.send_at_ms
        out["expand_groups_ms"] = send_at if send_at is not None and send_at > now else now
    return out


@dataclass(frozen=True)
class DryRun:
    number_of_recipients: int
    number_of_messages: int
    per_recipient: list[Rendered] | None
    warnings: list[Finding] = field(default_factory=list)  # content safety: spam lint, PHI, would-be refusals


def dry_run(ctx: Context, payload: object, per_recipient: bool, number_of_recipients: int | None,
            policy: PolicySettings | None = None) -> DryRun:
    """What a send would produce (bodies, encodings, parts, content warnings — judged with the
    project's content-safety `policy`), without writing anything."""
    policy = policy or PolicySettings()
    text, rendered = check_send_rendered(payload, ctx.settings, ctx.clock())
    limit = DRY_RUN_DEFAULT_RECIPIENTS if number_of_recipients is None else number_of_recipients
    if not 0 <= limit <= DRY_RUN_MAX_RECIPIENTS:
        raise invalid("number_of_recipients", f"must be between 0 and {DRY_RUN_MAX_RECIPIENTS}")
    return DryRun(
        number_of_recipients=len(rendered),
        number_of_messages=sum(r.parts for r in rendered),
        per_recipient=rendered[:limit] if per_recipient else None,
        # Content safety reads text: a binary payload's Base64 is none.
        warnings=[] if isinstance(text, MtBinary) else dry_run_warnings(
            (r.body for r in rendered), tenant_domains=policy.tenant_domains,
            phi_allowed_channels=policy.phi_allowed_channels),
    )


XMS_ENCODING = {Encoding.GSM7: "GSM", Encoding.UCS2: "UNICODE", Encoding.BINARY: "BINARY"}

__all__ = [
    "XMS_ENCODING",
    "Batch",
    "DryRun",
    "SendResult",
    "batch_from_row",
    "delivery_rows",
    "do_cancel",
    "do_replace",
    "do_send",
    "do_update",
    "dry_run",
]
