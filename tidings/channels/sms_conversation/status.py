"""SMS delivery transitions and MO of conversation messages → channel events, inside the
outcome writer's transaction (so a status change and its channel event commit together).

A batch is a conversation message's when its client_reference is `conv:<message id>`; its
batch id is the attempt's channel message id. Final XMS statuses map to DELIVERED or FAILED.
An MO to the sender number of an app's SMS credentials becomes an InboundEvent for that app (one
of the project the number is routed to; the oldest such app); a
binary one (`mo_binary`: 8-bit data, ports …) has no Conversation API message to become, and is
left out with a log line (it is still stored as an XMS inbound).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.channels.contract import DeliveryState, InboundEvent, StatusEvent
from tidings.channels.sms_conversation.connector import CLIENT_REFERENCE_PREFIX
from tidings.conversations.events import event_row
from tidings.core.statuses import Status
from tidings.store import deliveries as dq
from tidings.store import inbound
from tidings.store.conversation_schema import conv_apps, conv_channel_events

if TYPE_CHECKING:
    from tidings.workers.writer import Transition

__all__ = ["record_mos", "record_transitions"]

log = logging.getLogger(__name__)

_FAILED = {Status.FAILED, Status.EXPIRED, Status.REJECTED, Status.ABORTED, Status.CANCELLED,
           Status.DELETED}


async def record_transitions(conn: AsyncConnection, transitions: Sequence[Transition], now: int,
                             batches: Mapping[str, Any] | None = None) -> None:
    """`batches`: the transitions' batch rows (`dq.load_batches`) when the caller has them."""
    final = [t for t in transitions if t.new == Status.DELIVERED or t.new in _FAILED]
    if not final:
        return
    if batches is None:
        batches = await dq.load_batches(conn, list({t.batch_id for t in final}))
    rows = []
    for t in final:
        batch = batches.get(t.batch_id)
        ref = batch.client_reference if batch is not None else None
        if not ref or not ref.startswith(CLIENT_REFERENCE_PREFIX):
            continue
        status: DeliveryState = "DELIVERED" if t.new == Status.DELIVERED else "FAILED"
        reason = None if status == "DELIVERED" else f"{t.new.value} (code {t.code})"
        rows.append(event_row(StatusEvent("SMS", t.batch_id, status, t.at_ms, reason), now))
    if rows:
        await conn.execute(conv_channel_events.insert(), rows)


def _sender(entry: dict[str, Any]) -> str | None:
    bearer = entry.get("static_bearer") or {}
    value = bearer.get("sender") or entry.get("sender")
    return str(value) if value else None


async def _owners(conn: AsyncConnection, recipients: set[str]) -> dict[str, str]:
    """The app each MO recipient number belongs to: among the apps whose SMS credentials send
    from it, the oldest one of the project the number is routed to (`inbound.route`: its
    registered owner, else the project that last sent from it). An app of another project
    naming the same sender gets none of that project's replies; with no route, the oldest app."""
    apps = (await conn.execute(select(conv_apps.c.id, conv_apps.c.project_id, conv_apps.c.channel_credentials)
                               .order_by(conv_apps.c.created_ms, conv_apps.c.id))).all()
    candidates: dict[str, list[tuple[str, str]]] = {}
    for app in apps:
        for entry in app.channel_credentials or []:
            sender = _sender(entry) if entry.get("channel") == "SMS" else None
            if sender:
                candidates.setdefault(sender.lstrip("+"), []).append((app.project_id, app.id))
    owner: dict[str, str] = {}
    for recipient in recipients:
        found = candidates.get(recipient)
        if not found:
            continue
        route = await inbound.route(conn, recipient)
        app_id = next((a for p, a in found if route is None or p == route[0]), None)
        if app_id is None:
            log.warning("MO to %s left out of the conversation: its project has no app sending from it",
                        recipient)
            continue
        owner[recipient] = app_id
    return owner


async def record_mos(conn: AsyncConnection, mos: Sequence[Any], now: int) -> None:
    """`mos` are the writer's MobileOriginated events (sender, recipient, body, at_ms)."""
    if not mos:
        return
    owner = await _owners(conn, {str(mo.recipient).lstrip("+") for mo in mos})
    rows = []
    for mo in mos:
        app_id = owner.get(str(mo.recipient).lstrip("+"))
        if app_id is None:
            continue
        if getattr(mo, "kind", "mo_text") != "mo_text":
            log.info("binary MO from %s to app %s's SMS number left out of the conversation: no message "
                     "type carries binary data", mo.sender, app_id)
            continue
        sender = mo.sender if str(mo.sender).startswith("+") else f"+{mo.sender}"
        channel_id = f"{mo.connection}:{mo.smsc_id}" if mo.smsc_id else None
        rows.append(event_row(InboundEvent("SMS", app_id, sender, channel_id or "", mo.at_ms,
                                           {"text_message": {"text": mo.body}}), now))
    if rows:
        await conn.execute(conv_channel_events.insert(), rows)
