"""Channel events: stored durably by `EventSink` (before a platform gets its 2xx), applied by
`EventProcessor` (in the engine's loop).

Status events move the attempt they name (by channel and platform message id) and, when the
message is waiting on that attempt, the message: DELIVERED / READ end it, FAILED moves it to the
next channel (also after DELIVERED: an email bounce follows the hand-off's DELIVERED). A status
for an attempt not recorded yet (the platform answered faster than the engine committed its
send) is retried for a while, then dropped.

Inbound events find or create the contact (by channel identity: the app's own on an app-scoped
channel, else the app-less one; `identities.py`) and the app's active
conversation with it, store the message (TO_APP; with `extensions.content_safety`, the
`assess_inbound` verdict, when it looks like phishing), apply keywords (STOP, START, HELP:
`consent.keywords.handle_inbound_keywords`, the confirmation queued on the same channel; SMS
keywords are the SMS outcome writer's), and queue MESSAGE_INBOUND. On a channel that
cannot show choices, a reply "2" to a message with choices becomes a choice_response_message
with the second choice's postback_data.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.channels.contract import (
    ChannelEvent,
    ChannelFeature,
    ConversationConnector,
    InboundEvent,
    StatusEvent,
)
from tidings.consent.keywords import handle_inbound_keywords
from tidings.conversations import callbacks, queries, views
from tidings.conversations.batched_writes import WriteBatcher
from tidings.conversations.credentials import credentials_for
from tidings.conversations.defaults import PHONE_CHANNELS
from tidings.conversations.degrade import numbered_choices, parse_choice_reply
from tidings.conversations.engine import advance_values, delivery_hooks
from tidings.conversations.identities import APP_SCOPED_CHANNELS
from tidings.conversations.identities import as_json as scoped_identity
from tidings.conversations.system_messages import queue_system_message
from tidings.core.ids import ulid
from tidings.policy.content_safety import assess_inbound
from tidings.store.conversation_schema import (
    conv_attempts,
    conv_channel_events,
    conv_contacts,
    conv_conversations,
    conv_identities,
    conv_messages,
)
from tidings.store.db import Database
from tidings.store.prepared import PreparedQuery

log = logging.getLogger(__name__)

__all__ = ["EventProcessor", "EventSink", "event_row"]

MAX_UNMATCHED_TRIES = 40
WATERMARK_LIMIT = 500  # attempts one watermark may move
BATCH = 512
_e = conv_channel_events.c
_m = conv_messages.c
_a = conv_attempts.c

# Built once (each status event runs all of them; building costs more than running them).
# Updates without .values() set the columns named by the parameters passed.
_ATTEMPT_BY_CHANNEL_ID = select(conv_attempts).where(
    _a.channel == bindparam("channel_"), _a.channel_message_id == bindparam("channel_message_id_")
).order_by(_a.id.desc())
_UPDATE_ATTEMPT = update(conv_attempts).where(_a.id == bindparam("id_"))
_MESSAGE_BY_ID = select(conv_messages).where(_m.id == bindparam("id_"))
_UPDATE_MESSAGE_ON_ATTEMPT = update(conv_messages).where(
    _m.id == bindparam("id_"), _m.state == bindparam("state_"), _m.attempt_id == bindparam("attempt_id_"))
_UPDATE_EVENT = update(conv_channel_events).where(_e.id == bindparam("id_"))
_DUE_EVENTS = PreparedQuery(  # polled every 20 ms: prepared once on SQLite
    select(conv_channel_events)
    .where(_e.processed_ms.is_(None), _e.due_ms <= bindparam("now_"))
    .order_by(_e.id).limit(BATCH).with_for_update(skip_locked=True))


async def purge_processed(conn: AsyncConnection, processed_before: int, limit: int) -> int:
    """Forget up to `limit` events applied before `processed_before` (kept that long for
    inspection, as webhook rows are); returns how many. Events not applied yet stay."""
    ids = list((await conn.execute(
        select(_e.id).where(_e.processed_ms < processed_before).order_by(_e.processed_ms).limit(limit))).scalars())
    if ids:
        await conn.execute(delete(conv_channel_events).where(_e.id.in_(ids)))
    return len(ids)


def event_row(event: ChannelEvent, now: int) -> dict[str, Any]:
    kind = "status" if isinstance(event, StatusEvent) else "inbound"
    return {"kind": kind, "body": dataclasses.asdict(event), "received_ms": now, "due_ms": now,
            "tries": 0, "claimed_ms": None, "processed_ms": None}


class EventSink:
    """The `ChannelEventSink` connectors hand platform events to."""

    def __init__(self, db: Database, clock: Callable[[], int],
                 on_accept: Callable[[], None] | None = None) -> None:
        self._db = db
        self._clock = clock
        self._on_accept = on_accept
        self._writes = WriteBatcher(db)

    async def accept(self, events: Sequence[ChannelEvent]) -> None:
        if not events:
            return
        now = self._clock()
        rows = [event_row(e, now) for e in events]

        async def work(conn: AsyncConnection) -> None:
            await conn.execute(conv_channel_events.insert(), rows)

        await self._writes.run(work)  # platform callbacks arriving together: one commit
        if self._on_accept is not None:
            self._on_accept()

    async def credentials(self, app_id: str, channel: str) -> dict[str, Any] | None:
        async with self._db.read() as conn:
            return await credentials_for(conn, app_id, channel)


class EventProcessor:
    def __init__(self, db: Database, clock: Callable[[], int],
                 connectors: dict[str, ConversationConnector]) -> None:
        self._db = db
        self._clock = clock
        self._connectors = connectors

    async def run_once(self) -> int:
        now = self._clock()
        async with self._db.write() as conn:
            rows = await _DUE_EVENTS.rows(conn, {"now_": now})
            for row in rows:
                if row.kind == "status":
                    done = await self._status(conn, StatusEvent(**row.body), now)
                else:
                    await self._inbound(conn, InboundEvent(**row.body), now)
                    done = True
                if done or row.tries + 1 >= MAX_UNMATCHED_TRIES:
                    await conn.execute(_UPDATE_EVENT, {"id_": row.id, "processed_ms": now})
                else:
                    await conn.execute(_UPDATE_EVENT, {"id_": row.id, "tries": row.tries + 1,
                                                       "due_ms": now + min(250 * (row.tries + 1), 5000)})
        return len(rows)

    # -- statuses -------------------------------------------------------------------------------

    async def _status(self, conn: AsyncConnection, ev: StatusEvent, now: int) -> bool:
        if ev.is_watermark:
            return await self._watermark(conn, ev, now)
        attempt = (await conn.execute(_ATTEMPT_BY_CHANNEL_ID, {
            "channel_": ev.channel, "channel_message_id_": ev.channel_message_id})).first()
        if attempt is None:
            return False
        await self._apply(conn, attempt, ev, now)
        return True

    async def _watermark(self, conn: AsyncConnection, ev: StatusEvent, now: int) -> bool:
        """Every attempt sent to `ev.identity` on `ev.channel` up to `ev.up_to_ms` (newest
        first, at most WATERMARK_LIMIT); none found: retried like an unmatched status (the send
        may not be committed yet)."""
        a = conv_attempts.c
        query = select(conv_attempts).where(
            a.channel == ev.channel, a.identity == ev.identity, a.created_ms <= ev.up_to_ms,
            a.state.in_(("SENT", "DELIVERED", "READ", "TIMED_OUT")))
        if ev.app_id:
            query = query.where(a.message_id.in_(select(_m.id).where(_m.app_id == ev.app_id)))
        attempts = (await conn.execute(query.order_by(a.created_ms.desc()).limit(WATERMARK_LIMIT))).all()
        if not attempts:
            return False
        order = {"DELIVERED": 1, "READ": 2}
        for attempt in reversed(attempts):
            if order.get(attempt.state, 0) < order.get(ev.status, 9):
                await self._apply(conn, attempt, ev, now)
        return True

    async def _apply(self, conn: AsyncConnection, attempt: Any, ev: StatusEvent, now: int) -> None:
        order = {"SENT": 0, "TIMED_OUT": 0, "DELIVERED": 1, "READ": 2}
        if ev.status in ("DELIVERED", "READ") and order.get(attempt.state, 9) < order[ev.status]:
            await conn.execute(_UPDATE_ATTEMPT, {"id_": attempt.id, "state": ev.status, "finished_ms": ev.at_ms})
        elif ev.status == "FAILED" and attempt.state in ("SENT", "DELIVERED"):
            # DELIVERED then FAILED: email's hand-off, then a bounce (DSN) for it.
            await conn.execute(_UPDATE_ATTEMPT, {"id_": attempt.id, "state": "FAILED", "reason": ev.reason,
                                                 "finished_ms": ev.at_ms})
        msg = (await conn.execute(_MESSAGE_BY_ID, {"id_": attempt.message_id})).first()
        if msg is None or msg.attempt_id != attempt.id:
            return  # a late status for a channel the message already left: recorded above
        hooks: list[dict[str, Any]] = []
        if ev.status in ("DELIVERED", "READ") and msg.state in ("WAITING", "DELIVERED"):
            if ev.status == "DELIVERED" and msg.state == "DELIVERED":
                return
            result = await conn.execute(_UPDATE_MESSAGE_ON_ATTEMPT, {
                "id_": msg.id, "state_": msg.state, "attempt_id_": attempt.id,
                "state": ev.status, "next_ms": None, "claimed_ms": None})
            if result.rowcount:
                hooks = await delivery_hooks(conn, msg, ev.status, now, channel=ev.channel,
                                             identity=attempt.identity)
        elif ev.status == "FAILED" and msg.state in ("WAITING", "DELIVERED"):
            values, hooks = await advance_values(conn, msg, now, ev.channel, attempt.identity,
                                                 {"code": "CHANNEL_FAILURE",
                                                  "description": ev.reason or "failed on the channel"})
            result = await conn.execute(_UPDATE_MESSAGE_ON_ATTEMPT, {
                **values, "id_": msg.id, "state_": msg.state, "attempt_id_": attempt.id})
            if not result.rowcount:
                hooks = []
        await callbacks.enqueue(conn, hooks)

    # -- inbound --------------------------------------------------------------------------------

    async def _inbound(self, conn: AsyncConnection, ev: InboundEvent, now: int) -> None:
        app = await queries.app_by_id(conn, ev.app_id)
        if app is None:
            log.warning("inbound event for unknown app %s dropped", ev.app_id)
            return
        if ev.channel_message_id and (await conn.execute(select(_m.id).where(
                _m.channel == ev.channel, _m.channel_message_id == ev.channel_message_id))).first():
            return  # the platform redelivered it
        project_id = app.project_id
        hooks: list[dict[str, Any]] = []
        # The app's own identity, else the app-less one (`conversations/identities.py`).
        contact_id = await queries.contact_by_identities(conn, project_id, [(ev.channel, ev.identity)], app.id)
        if contact_id is None and ev.channel in PHONE_CHANNELS:
            # The number we reached on this channel by borrowing it from another phone channel.
            contact_id = await queries.contact_by_identities(
                conn, project_id, [(c, ev.identity) for c in PHONE_CHANNELS if c != ev.channel], app.id)
            if contact_id is not None:
                position = len((await queries.identities_of(conn, project_id, [contact_id]))[contact_id])
                await conn.execute(conv_identities.insert().values(
                    project_id=project_id, channel=ev.channel, identity=ev.identity,
                    contact_id=contact_id, position=position))
        if contact_id is None:
            contact_id = ulid()
            await conn.execute(conv_contacts.insert().values(
                id=contact_id, project_id=project_id, display_name=ev.display_name, email=None,
                language=None, metadata=None, external_id=None, channel_priority=None, created_ms=now))
            owner = app.id if ev.channel in APP_SCOPED_CHANNELS else ""  # a page-scoped id is this app's
            await conn.execute(conv_identities.insert().values(
                project_id=project_id, channel=ev.channel, identity=ev.identity, app_id=owner,
                contact_id=contact_id, position=0))
            contact = views.contact_json(await queries.contact(conn, project_id, contact_id),
                                         [scoped_identity(ev.channel, ev.identity, owner)])
            hooks += await callbacks.rows_for(
                conn, project_id, app.id, "CONTACT_CREATE",
                callbacks.contact_event(project_id, app.id, "CONTACT_CREATE", contact, now), now)
        conv = await queries.active_conversation(conn, app.id, contact_id)
        if conv is None:
            conversation_id = ulid()
            await conn.execute(conv_conversations.insert().values(
                id=conversation_id, project_id=project_id, app_id=app.id, contact_id=contact_id,
                active=True, active_channel=ev.channel, metadata=None, created_ms=now, last_ms=ev.at_ms))
        else:
            conversation_id = conv.id
            await conn.execute(update(conv_conversations).where(conv_conversations.c.id == conv.id)
                               .values(last_ms=ev.at_ms, active_channel=ev.channel))
        content = await self._content(conn, ev, conversation_id)
        text = (content.get("text_message") or {}).get("text")
        extensions = None
        if isinstance(text, str) and text:
            verdict = assess_inbound(text)
            if verdict.suspicious:
                extensions = {"content_safety": verdict.as_json()}
        message_id = ulid()
        await conn.execute(conv_messages.insert().values(
            id=message_id, project_id=project_id, app_id=app.id, conversation_id=conversation_id,
            contact_id=contact_id, direction="TO_APP", content=content, channel=ev.channel,
            identity=ev.identity, metadata=None, correlation_id=None, callback_url=None,
            processing_mode=app.processing_mode, ttl_ms=None, plan=None, plan_index=0, tries=0,
            state="RECEIVED", next_ms=None, claimed_ms=None, attempt_id=None, reason=None,
            channel_message_id=ev.channel_message_id or None, accept_ms=ev.at_ms, idempotency_key=None,
            request_hash=None, extensions=extensions))
        if ev.channel != "SMS" and isinstance(text, str):  # SMS keywords: the outcome writer's
            await self._keywords(conn, app, ev, text, message_id, contact_id, conversation_id, now)
        row = (await conn.execute(select(conv_messages).where(_m.id == message_id))).one()
        body = views.message_json(row)
        hooks += await callbacks.rows_for(
            conn, project_id, app.id, "MESSAGE_INBOUND",
            callbacks.inbound_message(project_id, app.id, body, now), now)
        await callbacks.enqueue(conn, hooks)

    async def _keywords(self, conn: AsyncConnection, app: Any, ev: InboundEvent, text: str, message_id: str,
                        contact_id: str, conversation_id: str, now: int) -> None:
        """STOP / START / HELP on a conversation channel: the consent hook, with its confirmation
        sent back on the same channel through the engine (the app is the keyword settings'
        sender)."""

        async def send_reply(reply_conn: AsyncConnection, reply: str) -> str:
            return await queue_system_message(
                reply_conn, project_id=app.project_id, app_id=app.id, channel=ev.channel,
                identity=ev.identity, text=reply, now=now, contact_id=contact_id,
                conversation_id=conversation_id, reference=f"consent:keyword:{message_id}")

        await handle_inbound_keywords(conn, app.project_id, ev.channel, ev.identity, app.id, text,
                                      message_id, now, send_reply=send_reply)

    async def _content(self, conn: AsyncConnection, ev: InboundEvent, conversation_id: str) -> dict[str, Any]:
        content = dict(ev.content)
        choice = content.get("choice_response_message")
        if isinstance(choice, dict) and (ev.reply_to_channel_message_id or choice.get("message_id")):
            # Platforms name the answered message by their own id (a wamid, an RBM messageId):
            # ours replaces it when we sent that message.
            platform_id = ev.reply_to_channel_message_id or str(choice["message_id"])
            answered = await self._message_for_channel_id(conn, ev.channel, platform_id)
            if answered:
                content["choice_response_message"] = {**choice, "message_id": answered}
        text = (content.get("text_message") or {}).get("text")
        connector = self._connectors.get(ev.channel)
        # Channels whose replies are plain text: a number answers a numbered choice list.
        text_only = (connector is None or not (connector.features & ChannelFeature.CHOICE)
                     or ev.channel in ("SMS", "EMAIL"))
        if isinstance(text, str) and text.strip().rstrip(".)").isdigit() and text_only:
            last = (await conn.execute(select(conv_messages).where(
                _m.conversation_id == conversation_id, _m.direction == "TO_CONTACT",
                _m.channel == ev.channel, _m.state.in_(("WAITING", "DELIVERED", "READ")))
                .order_by(_m.accept_ms.desc(), _m.id.desc()).limit(1))).first()
            if last is not None:
                picked = parse_choice_reply(text, numbered_choices(last.content))
                if picked is not None:
                    return {"choice_response_message": {
                        "message_id": last.id, "postback_data": picked.get("postback_data") or ""}}
        return content

    async def _message_for_channel_id(self, conn: AsyncConnection, channel: str, channel_id: str) -> str | None:
        a = conv_attempts.c
        row = (await conn.execute(select(a.message_id).where(
            a.channel == channel, a.channel_message_id == channel_id))).first()
        return str(row.message_id) if row else None


