"""The policy gate on the SMS dispatch path: screens the deliveries a dispatch worker just claimed,
in the claim's own transaction (docs/subsystems/policy.md#sms).

Deferred deliveries are given back right here (due later, unpublished, code 489 while they wait;
a `per_recipient` batch gets a Queued report carrying it); the caller settles refused ones as
Rejected with their code through the outcome writer, and sends the rest. A batch the conversation
engine created for one of its messages (client reference `conv:<message id>` of an existing
message of the project) was judged by the engine a moment before: only consent is checked again.
A binary batch (`mt_binary`) passes every check but content safety, which reads text: its Base64
payload is none.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.core.personalize import render_body
from tidings.core.statuses import Status
from tidings.policy.gate import Candidate, Decision, PolicyCache, evaluate_many
from tidings.store.queries import policy as pq
from tidings.workers import notify
from tidings.workers.writer import Transition

__all__ = ["DEFAULT_PURPOSE", "enabled", "screen"]

DEFAULT_PURPOSE = "information"
CONV_PREFIX = "conv:"
MT_BINARY = "mt_binary"


def enabled() -> bool:
    """`TIDINGS_POLICY_GATE=off` turns the gate off (to measure what it costs); on by default."""
    return os.environ.get("TIDINGS_POLICY_GATE", "on").strip().lower() not in ("off", "0", "false", "no")


async def screen(conn: AsyncConnection, claimed: Sequence[Any], batches: Mapping[str, Any], now: int, *,
                 cache: PolicyCache | None = None) -> dict[int, Decision]:
    """The refused and deferred among `claimed` (rows of `deliveries.claim`), by delivery id;
    deferred ones are already released. `batches`: their batch rows (`deliveries.load_batches`),
    which the dispatch worker loads anyway."""
    if not claimed:
        return {}
    conv = {b.client_reference[len(CONV_PREFIX):]: b.project_id for b in batches.values()
            if b.service_plan_id is None and (b.client_reference or "").startswith(CONV_PREFIX)}
    internal = await pq.conversation_messages_exist(conn, conv)
    rows, candidates = [], []
    for row in claimed:
        b = batches.get(row.batch_id)
        if b is None or b.canceled or b.expire_at_ms <= now:
            continue  # the dispatcher settles these without sending
        reference = b.client_reference or ""
        judged = reference.startswith(CONV_PREFIX) and reference[len(CONV_PREFIX):] in internal
        rows.append(row)
        binary = b.type == MT_BINARY
        candidates.append(Candidate(
            ref=reference if judged else f"sms:{row.id}", project_id=b.project_id, channel="SMS", identity=row.recipient,
            purpose=b.purpose or DEFAULT_PURPOSE,
            # A binary message is told apart by its header too (the same data to another port).
            body=f"{b.udh or ''}:{b.body}" if binary else
            render_body(b.body, b.parameters, row.recipient) if b.parameters else b.body,
            collapse_key=b.collapse_key, judged=judged, binary=binary))
    decisions = await evaluate_many(conn, candidates, now, cache=cache)
    out: dict[int, Decision] = {}
    deferred: list[Transition] = []
    for row, decision in zip(rows, decisions, strict=True):
        if decision.allowed:
            continue
        out[row.id] = decision
        if decision.outcome == "defer":
            deferred.append(Transition(row.id, row.batch_id, row.recipient, Status.QUEUED, Status.QUEUED,
                                       decision.xms_code or 400, now))
    await pq.defer_deliveries(conn, [
        {"b_id": t.delivery_id, "b_due": out[t.delivery_id].until_ms, "b_code": t.code} for t in deferred
    ])
    await notify.enqueue(conn, await notify.recipient_reports(conn, deferred, now))
    return out
