"""`POST /v1/projects/{project_id}/events:send`: app events (composing indicators, agent joined
or left, comment replies, generic events) to a contact on one channel, as Sinch's Events API.

    accept   (`do_send_event`) checks the body, finds the recipient's identity on the one channel
             the event goes to — `channel_priority_order[0]`, else the conversation's active
             channel, else the first channel of the message plan (`defaults.plan`) — and commits
             a conv_app_events row (PENDING) before answering `{"event_id", "accepted_time"}`.
    deliver  (`AppEventDispatcher.run_once`, in the engine's loop) claims due rows (a lease, as
             the engine does messages) and hands each to its channel's connector `send_event`
             (`contract.AppEventSender`, with the contact's newest inbound message on that
             channel: WhatsApp's typing indicator answers one): DELIVERED, or FAILED with
             Sinch's reason — UNSUPPORTED_OPERATION where the connector cannot show that kind
             of event, CHANNEL_CONFIGURATION_MISSING without the app's credentials for the
             channel, OUTSIDE_ALLOWED_SENDING_WINDOW where the platform needs a recent message
             from the contact and has none;
             transient errors are retried (MAX_TRIES). Each outcome queues an EVENT_DELIVERY
             callback (`event_delivery_report`, or to the event's `callback_url`) in the
             transaction that records it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.channels.contract import ConversationConnector, InboundRef
from tidings.conversations import callbacks, queries
from tidings.conversations import identities as scoped
from tidings.conversations.checks import check_channel, check_identity, invalid
from tidings.conversations.credentials import credentials_for
from tidings.conversations.defaults import plan as make_plan
from tidings.core.errors import OutsideSendingWindow, RequestError, TransientDeliveryError
from tidings.core.ids import ulid
from tidings.runtime.context import Context
from tidings.store.conversation_schema import conv_app_events, conv_messages
from tidings.store.db import Database

log = logging.getLogger(__name__)

__all__ = ["EVENT_KINDS", "AppEventDispatcher", "do_send_event", "event_delivery_report", "purge_finished"]

EVENT_KINDS = ("composing_event", "composing_end_event", "comment_reply_event", "agent_joined_event",
               "agent_left_event", "generic_event")
QUEUES = ("NORMAL_PRIORITY", "HIGH_PRIORITY")
MAX_TRIES = 3
CLAIM_LEASE_MS = 60_000
BATCH = 128
_e = conv_app_events.c


# -- accepting ------------------------------------------------------------------------------------

def _check_event(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid("event", "is required")
    kinds = [k for k in value if k in EVENT_KINDS]
    if len(kinds) != 1 or len(value) != 1:
        raise invalid("event", f"must set exactly one of {', '.join(EVENT_KINDS)}")
    kind = kinds[0]
    inner = value[kind]
    if not isinstance(inner, dict):
        raise invalid(f"event.{kind}", "must be an object")
    if kind == "comment_reply_event" and (not isinstance(inner.get("text"), str) or not inner["text"]):
        raise invalid("event.comment_reply_event.text", "is required")
    if kind in ("agent_joined_event", "agent_left_event") and not isinstance(inner.get("agent"), dict):
        raise invalid(f"event.{kind}.agent", "is required")
    if kind == "generic_event" and not isinstance(inner.get("payload"), dict):
        raise invalid("event.generic_event.payload", "must be a JSON object")
    return {kind: inner}


def _check_recipient(value: Any) -> tuple[str | None, list[scoped.Identity]]:
    if not isinstance(value, dict):
        raise invalid("recipient", "is required")
    if value.get("contact_id") is not None:
        if not isinstance(value["contact_id"], str) or not value["contact_id"]:
            raise invalid("recipient.contact_id", "must be a contact id")
        return value["contact_id"], []
    field = "recipient.identified_by.channel_identities"
    entries = (value.get("identified_by") or {}).get("channel_identities") \
        if isinstance(value.get("identified_by"), dict) else None
    if not isinstance(entries, list) or not entries:
        raise invalid("recipient", "needs contact_id or identified_by.channel_identities")
    out = []
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise invalid(f"{field}[{n}]", "must be an object")
        channel = check_channel(entry.get("channel"), f"{field}[{n}].channel")
        app_id = entry.get("app_id") or ""
        if not isinstance(app_id, str):
            raise invalid(f"{field}[{n}].app_id", "must be an app id")
        out.append((channel, check_identity(channel, entry.get("identity"), f"{field}[{n}].identity"), app_id))
    return None, out


def _check(body: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(body.get("app_id"), str) or not body["app_id"]:
        raise invalid("app_id", "is required")
    contact_id, identities = _check_recipient(body.get("recipient"))
    event = _check_event(body.get("event"))
    order = body.get("channel_priority_order")
    if order is not None:
        if not isinstance(order, list):
            raise invalid("channel_priority_order", "must be a list of channels")
        order = [check_channel(c, "channel_priority_order") for c in order]
    metadata = body.get("event_metadata")
    if metadata is not None and (not isinstance(metadata, str) or len(metadata) > 1024):
        raise invalid("event_metadata", "must be a string of at most 1024 characters")
    callback_url = body.get("callback_url")
    if callback_url is not None and (not isinstance(callback_url, str) or len(callback_url) > 742
                                     or not callback_url.startswith(("http://", "https://"))):
        raise invalid("callback_url", "must be an http(s) URL of at most 742 characters")
    if body.get("queue") is not None and body["queue"] not in QUEUES:
        raise invalid("queue", f"must be one of {QUEUES}")
    return {"app_id": body["app_id"], "contact_id": contact_id, "identities": identities, "event": event,
            "order": order or [], "metadata": metadata, "callback_url": callback_url}


async def _resolve(conn: AsyncConnection, project_id: str, app: Any, req: dict[str, Any]) -> dict[str, Any]:
    """The contact (if known), its active conversation with the app, and the one channel and
    identity the event goes to."""
    contact_id = req["contact_id"]
    preferred: list[str] = []
    identities = [(c, i, a or (app.id if c in scoped.APP_SCOPED_CHANNELS else "")) for c, i, a in req["identities"]]
    if contact_id is not None:
        contact = await queries.contact(conn, project_id, contact_id)
        preferred = list(contact.channel_priority or [])
        known = (await queries.identities_of(conn, project_id, [contact_id]))[contact_id]
        identities = [(i["channel"], i["identity"], i.get("app_id", "")) for i in known]
    elif app.processing_mode == "CONVERSATION":
        contact_id = await queries.contact_by_identities(conn, project_id, identities, app.id)
    conv = await queries.active_conversation(conn, app.id, contact_id) if contact_id else None
    reachable = scoped.reachable_by(identities, app.id)
    order = req["order"][:1]  # Sinch: one channel; more than one has no effect
    if not order and conv is not None and conv.active_channel:
        order = [conv.active_channel]
    plan = make_plan(reachable, priority_order=order or None, preferred=preferred)
    if not plan:
        raise RequestError("FAILED_PRECONDITION", "the recipient has no channel identity on "
                           + (f"{order[0]} for this app" if order else "any channel for this app"), 400)
    return {"contact_id": contact_id, "conversation_id": conv.id if conv is not None else None, **plan[0]}


async def do_send_event(ctx: Context, project_id: str, payload: object) -> dict[str, Any]:
    """Check and accept one app event; durable before it returns `{event_id, accepted_time}`."""
    if not isinstance(payload, dict):
        raise invalid("body", "must be a JSON object")
    req = _check(payload)
    now = ctx.clock()
    event_id = ulid()
    async with ctx.db.write() as conn:
        app = await queries.app(conn, project_id, req["app_id"])
        target = await _resolve(conn, project_id, app, req)
        await conn.execute(conv_app_events.insert().values(
            id=event_id, project_id=project_id, app_id=app.id, contact_id=target["contact_id"],
            conversation_id=target["conversation_id"], channel=target["channel"], identity=target["identity"],
            event=req["event"], metadata=req["metadata"], callback_url=req["callback_url"],
            processing_mode=app.processing_mode, state="PENDING", reason=None, tries=0, next_ms=now,
            claimed_ms=None, accept_ms=now))
    ctx.conversation_work()
    return {"event_id": event_id, "accepted_time": callbacks.iso(now)}


# -- delivering -----------------------------------------------------------------------------------

def event_delivery_report(row: Any, status: str, now: int, reason: dict[str, str] | None = None) -> dict[str, Any]:
    """An EVENT_DELIVERY body for conv_app_events row `row`."""
    report: dict[str, Any] = {
        "event_id": row.id, "conversation_id": row.conversation_id or "", "status": status,
        "channel_identity": {"channel": row.channel, "identity": row.identity, "app_id": row.app_id},
        "contact_id": row.contact_id or "", "metadata": row.metadata or "",
        "processing_mode": row.processing_mode,
    }
    if reason:
        report["reason"] = {**reason, "sub_code": "UNSPECIFIED_SUB_CODE"}
    body: dict[str, Any] = {"app_id": row.app_id, "accepted_time": callbacks.iso(row.accept_ms),
                            "event_time": callbacks.iso(now), "project_id": row.project_id,
                            "event_delivery_report": report}
    if row.metadata:
        body["message_metadata"] = row.metadata
    return body


_DUE = and_(_e.state == "PENDING", _e.next_ms <= bindparam("now_"),
            or_(_e.claimed_ms.is_(None), _e.claimed_ms <= bindparam("lapsed_")))
_DUE_IDS = select(_e.id).where(_DUE).order_by(_e.next_ms).limit(BATCH)
_m = conv_messages.c
_LAST_INBOUND = (select(_m.channel_message_id, _m.accept_ms)
                 .where(_m.app_id == bindparam("app_id_"), _m.contact_id == bindparam("contact_id_"),
                        _m.channel == bindparam("channel_"), _m.direction == "TO_APP",
                        _m.channel_message_id.is_not(None))
                 .order_by(_m.accept_ms.desc()).limit(1))
_CLAIM = (update(conv_app_events).where(_e.id.in_(bindparam("ids_", expanding=True)), _DUE)
          .returning(*conv_app_events.c))


class AppEventDispatcher:
    """Delivers accepted app events through the connectors (by channel)."""

    def __init__(self, db: Database, clock: Callable[[], int], connectors: dict[str, ConversationConnector],
                 *, backoff_ms: int = 500) -> None:
        self._db = db
        self._clock = clock
        self._connectors = connectors
        self._backoff_ms = backoff_ms

    async def run_once(self) -> int:
        now = self._clock()
        due = {"now_": now, "lapsed_": now - CLAIM_LEASE_MS}
        async with self._db.write() as conn:
            ids = list((await conn.execute(_DUE_IDS, due)).scalars())
            if not ids:
                return 0
            rows = (await conn.execute(_CLAIM, {**due, "ids_": ids, "claimed_ms": now})).all()
        await asyncio.gather(*(self._deliver(row) for row in rows))
        return len(rows)

    async def _deliver(self, row: Any) -> None:
        try:
            await self._try(row)
        except Exception:  # noqa: BLE001 - the claim lapses and the event is tried again
            log.exception("app event %s step failed", row.id)

    async def _try(self, row: Any) -> None:
        kind = next(iter(row.event))
        connector = self._connectors.get(row.channel)
        send = getattr(connector, "send_event", None)
        if send is None or kind not in getattr(connector, "app_events", frozenset()):
            await self._finish(row, "FAILED", {"code": "UNSUPPORTED_OPERATION",
                                               "description": f"the {row.channel} channel cannot show a {kind}"})
            return
        last_inbound = None
        async with self._db.read() as conn:
            credentials = await credentials_for(conn, row.app_id, row.channel)
            if row.contact_id:
                newest = (await conn.execute(_LAST_INBOUND, {"app_id_": row.app_id, "contact_id_": row.contact_id,
                                                             "channel_": row.channel})).first()
                last_inbound = InboundRef(newest.channel_message_id, newest.accept_ms) if newest else None
        if credentials is None:
            await self._finish(row, "FAILED", {"code": "CHANNEL_CONFIGURATION_MISSING",
                                               "description": f"the app has no {row.channel} credentials"})
            return
        try:
            await send(credentials, row.identity, row.event, last_inbound=last_inbound)
        except OutsideSendingWindow as exc:
            await self._finish(row, "FAILED", {"code": "OUTSIDE_ALLOWED_SENDING_WINDOW", "description": str(exc)})
            return
        except TransientDeliveryError as exc:
            if row.tries + 1 < MAX_TRIES:
                await self._retry(row, str(exc))
            else:
                await self._finish(row, "FAILED", {"code": "CHANNEL_FAILURE", "description": str(exc)})
            return
        except Exception as exc:  # noqa: BLE001 - permanent, credentials, or unexpected: reported
            await self._finish(row, "FAILED", {"code": "CHANNEL_FAILURE", "description": str(exc)})
            return
        await self._finish(row, "DELIVERED", None)

    async def _retry(self, row: Any, reason: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(update(conv_app_events).where(_e.id == row.id, _e.claimed_ms == row.claimed_ms).values(
                tries=row.tries + 1, next_ms=self._clock() + self._backoff_ms * (row.tries + 1),
                claimed_ms=None, reason=reason))

    async def _finish(self, row: Any, state: str, reason: dict[str, str] | None) -> None:
        now = self._clock()
        async with self._db.write() as conn:
            result = await conn.execute(update(conv_app_events).where(
                _e.id == row.id, _e.claimed_ms == row.claimed_ms, _e.state == "PENDING").values(
                state=state, next_ms=None, claimed_ms=None,
                reason=f"{reason['code']}: {reason['description']}" if reason else None))
            if not result.rowcount:
                return  # another worker took it over after our lease lapsed
            body = event_delivery_report(row, state, now, reason)
            await callbacks.enqueue(conn, await callbacks.rows_for(
                conn, row.project_id, row.app_id, "EVENT_DELIVERY", body, now, url_override=row.callback_url))


async def purge_finished(conn: AsyncConnection, accepted_before: int, limit: int) -> int:
    """Forget up to `limit` events delivered or failed that were accepted before
    `accepted_before` (typing indicators come often: kept only for inspection, as webhook rows
    are); returns how many. Events still pending stay."""
    e = conv_app_events.c
    ids = list((await conn.execute(
        select(e.id).where(e.state != "PENDING", e.accept_ms < accepted_before).order_by(e.accept_ms)
        .limit(limit))).scalars())
    if ids:
        await conn.execute(delete(conv_app_events).where(e.id.in_(ids)))
    return len(ids)
