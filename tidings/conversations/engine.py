"""The conversation engine: works each outbound message through its channel plan.

A message row is due when `next_ms` has passed and the engine may act on it:

    PENDING ──capability fails / no connector / no credentials──▶ (SKIPPED attempt) ─┐
       │ ──send: transient error──▶ PENDING again after a backoff (up to MAX_TRIES)    │
       │ ──send: permanent error or MAX_TRIES transient ─▶ (FAILED attempt) ───────────┤
       └──send ok──▶ WAITING (attempt SENT, next_ms = deadline from `ttl`)             │
                        │ ──DELIVERED / READ event──▶ DELIVERED / READ                 │
                        │ ──FAILED event──▶ (FAILED attempt) ───────────────────────────┤
                        └──deadline passes──▶ revoke (RCS) ─▶ (TIMED_OUT attempt) ──────┤
                                                                                       ▼
                     next plan entry: SWITCHING_CHANNEL callback, PENDING, or FAILED when none is left

Every step is one transaction that also writes the attempt row and the MESSAGE_DELIVERY
callbacks. Timers are `next_ms` in the database, so a restart resumes where it stopped: a
message claimed by a process that died is taken over after the claim lease. Claims are guarded
updates (`claimed_ms`), so two workers never act on one message at once.

What the engine tells a connector beyond the message (`OutboundMessage`): `last_inbound_ms` (the
contact's last message to the app on that channel: WhatsApp's 24-hour window, RBM sessions),
`metadata["last_outbound_ms"]` on RCS (our previous message there, for RBM billing) and the
contact's opt-ins from its metadata JSON (`consent_of`: `{"whatsapp_opt_in": true | [purposes]}`).
A connector with `revoke(message)` (RCS) is asked to take back a message whose ttl ran out;
when the platform says it was delivered already, the message is DELIVERED instead of moving on.

Channel events (statuses, inbound messages) arrive through `EventSink` into
`conv_channel_events` and are applied by `events.py` in the same loop; app events
(`events:send`) are delivered by `app_events.py` there too.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.channels.contract import (
    ConversationConnector,
    OutboundMessage,
)
from tidings.conversations import callbacks
from tidings.conversations.batched_writes import WriteBatcher
from tidings.conversations.credentials import credentials_for
from tidings.core.errors import (
    ChannelAuthError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from tidings.policy import conversation_gate
from tidings.store.conversation_schema import conv_apps, conv_attempts, conv_contacts, conv_messages
from tidings.store.db import Database
from tidings.store.prepared import PreparedQuery

log = logging.getLogger(__name__)

__all__ = ["ConversationEngine", "advance_values", "consent_of"]

MAX_TRIES = 3
NEEDS_LAST_OUTBOUND = frozenset({"RCS"})  # RBM billing sessions
NEEDS_CONSENT = frozenset({"WHATSAPP"})
CONSENT_KEYS = ("whatsapp_opt_in",)
CLAIM_LEASE_MS = 60_000
RECONFIGURE_MS = 5 * 60_000
"""How often an app's channel configuration (webhook registration, DNS records) is made again
although its credentials did not change: a platform or console that lost it — a sandbox
restarted without a data directory, a webhook changed by hand — gets it back within this."""
BATCH = 256

_m = conv_messages.c
_a = conv_attempts.c

# The per-message statements, built once: building a Core statement and its cache key costs
# about three times running it on SQLite (~110 of ~150 µs), and each message runs a dozen.
# Updates without .values() set the columns named by the parameters passed.
_LAST_INBOUND = select(func.max(_m.accept_ms)).where(
    _m.app_id == bindparam("app_id_"), _m.contact_id == bindparam("contact_id_"),
    _m.channel == bindparam("channel_"), _m.direction == "TO_APP")
_LAST_OUTBOUND = select(func.max(_m.accept_ms)).where(
    _m.app_id == bindparam("app_id_"), _m.contact_id == bindparam("contact_id_"), _m.id != bindparam("id_"),
    _m.channel == bindparam("channel_"), _m.direction == "TO_CONTACT")
_CONTACT_METADATA = select(conv_contacts.c.metadata).where(conv_contacts.c.id == bindparam("contact_id_"))
_UPDATE_CLAIMED = update(conv_messages).where(  # IS: the claim may be NULL
    _m.id == bindparam("id_"), _m.claimed_ms.is_not_distinct_from(bindparam("claimed_ms_")),
    _m.state == bindparam("state_"))
_SET_ATTEMPT_ID = update(conv_messages).where(_m.id == bindparam("id_"))
_FINISH_ATTEMPT = update(conv_attempts).where(_a.id == bindparam("id_"), _a.state == "SENT")
_INSERT_ATTEMPT = conv_attempts.insert()
# The claim, run every poll (`now_`, `lapsed_`: claims older than the lease).
_DUE = and_(_m.state.in_(("PENDING", "WAITING")), _m.next_ms <= bindparam("now_"),
            or_(_m.claimed_ms.is_(None), _m.claimed_ms <= bindparam("lapsed_")))
_DUE_IDS = PreparedQuery(select(_m.id).where(_DUE).order_by(_m.next_ms).limit(BATCH))
# RETURNING: exactly the rows this claim took. Selecting them back by `claimed_ms == now` would
# also take rows another worker claimed in the same millisecond (both read them as due), and
# both would send them.
_CLAIM = (update(conv_messages).where(_m.id.in_(bindparam("ids_", expanding=True)), _DUE)
          .returning(*conv_messages.c))


async def delivery_hooks(conn: AsyncConnection, msg: Any, status: str, now: int, *,
                         channel: str | None, identity: str | None,
                         reason: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    body = callbacks.delivery_report(msg, status, now, channel=channel, identity=identity, reason=reason)
    return await callbacks.rows_for(conn, msg.project_id, msg.app_id, "MESSAGE_DELIVERY", body, now,
                                    url_override=msg.callback_url)


async def advance_values(conn: AsyncConnection, msg: Any, now: int, channel: str, identity: str | None,
                         reason: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Leave the current plan entry: the next one (SWITCHING_CHANNEL) or FAILED."""
    nxt = msg.plan_index + 1
    if nxt < len(msg.plan or []):
        hooks = await delivery_hooks(conn, msg, "SWITCHING_CHANNEL", now, channel=channel,
                                     identity=identity, reason=reason)
        return ({"plan_index": nxt, "tries": 0, "state": "PENDING", "next_ms": now,
                 "claimed_ms": None, "attempt_id": None, "reason": reason.get("description")}, hooks)
    final = {"code": "NO_CHANNELS_LEFT" if len(msg.plan or []) > 1 else reason.get("code", "UNKNOWN"),
             "description": reason.get("description", "")}
    hooks = await delivery_hooks(conn, msg, "FAILED", now, channel=channel, identity=identity,
                                 reason=final)
    return ({"state": "FAILED", "next_ms": None, "claimed_ms": None,
             "reason": f"{final['code']}: {final['description']}"}, hooks)


def consent_of(contact_metadata: str | None) -> dict[str, Any]:
    """Opt-ins recorded on the contact: its `metadata` (a string in the Conversation API) holding
    a JSON object, e.g. `{"whatsapp_opt_in": true}` or `{"whatsapp_opt_in": ["information"]}`."""
    if not contact_metadata:
        return {}
    try:
        data = orjson.loads(contact_metadata)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(data, dict):
        return {}
    out: dict[str, Any] = {}
    for key in CONSENT_KEYS:
        value = data.get(key)
        if value is True or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            out[key] = value
    return out


IDLE_POLL_SECONDS = 0.1
"""The longest wait between rounds that found nothing to do. Each round is three write
transactions (messages, platforms' events, app events); polled every 20 ms they took ~10 % of a
`tidings worker`'s CPU (py-spy, 30,000 single SMS sends, no conversation traffic) and 450
PostgreSQL round trips a second per worker. The wait doubles from `poll_seconds` while rounds
find nothing, up to this; work found or a wakeup (`Context.conversation_work`: this process's API,
or an API process's announcement, says a message or an event was accepted) brings it back. It
bounds how late the engine notices work nobody announced (an announcement lost with a Redis
connection), and a timer (a fallback's deadline, a retry) coming due, when idle."""


class ConversationEngine:
    def __init__(self, db: Database, clock: Callable[[], int],
                 connectors: dict[str, ConversationConnector], *, poll_seconds: float = 0.02,
                 idle_poll_seconds: float = IDLE_POLL_SECONDS, backoff_seconds: float = 0.5) -> None:
        self._db = db
        self._clock = clock
        self.connectors = connectors  # by channel
        self._poll = poll_seconds
        self._idle_poll = max(idle_poll_seconds, poll_seconds)
        self._backoff = backoff_seconds
        self._configured: dict[tuple[str, str], tuple[str, int]] = {}  # (app, channel) -> (digest, when)
        self._inflight: set[asyncio.Task[None]] = set()
        self.wakeup = asyncio.Event()
        self.steps = 0
        self._writes = WriteBatcher(db)  # the steps of a claimed batch commit together

    # -- loop ---------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        from tidings.conversations.app_events import AppEventDispatcher
        from tidings.conversations.events import EventProcessor

        events = EventProcessor(self._db, self._clock, self.connectors)
        app_events = AppEventDispatcher(self._db, self._clock, self.connectors)
        last_config = 0.0
        loop = asyncio.get_running_loop()
        wait = self._poll
        while not stop.is_set():
            try:
                if loop.time() - last_config > 1.0:
                    last_config = loop.time()
                    await self.configure_apps()
                worked = await self.run_once()
                worked += await events.run_once()
                worked += await app_events.run_once()
            except Exception:  # noqa: BLE001 - the database is down or busy: try again shortly
                log.exception("conversation engine round failed")
                worked = 0
            if worked:
                wait = self._poll
                continue
            try:
                async with asyncio.timeout(wait):
                    await self.wakeup.wait()
                wait = self._poll  # woken: work was just accepted here
            except TimeoutError:
                wait = min(wait * 2, self._idle_poll)
            self.wakeup.clear()
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)

    async def configure_apps(self) -> None:
        """Tell each connector about apps with credentials for its channel (new or changed)."""
        async with self._db.read() as conn:
            rows = (await conn.execute(select(conv_apps.c.id, conv_apps.c.channel_credentials))).all()
        for row in rows:
            for entry in row.channel_credentials or []:
                connector = self.connectors.get(entry.get("channel"))
                if connector is not None:
                    await self._configure(connector, row.id, entry)

    async def _configure(self, connector: ConversationConnector, app_id: str, entry: dict[str, Any]) -> None:
        """`configure_app` once per app and credentials version, and again every `RECONFIGURE_MS`."""
        key = (app_id, str(entry.get("channel")))
        digest = hashlib.sha256(orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)).hexdigest()
        now = self._clock()
        done = self._configured.get(key)
        if done is not None and done[0] == digest and now - done[1] < RECONFIGURE_MS:
            return
        try:
            await connector.configure_app(app_id, entry)
            self._configured[key] = (digest, now)
        except Exception:  # noqa: BLE001 - retried on the next round
            log.warning("configuring app %s on %s failed", app_id, key[1], exc_info=True)

    async def run_once(self) -> int:
        """Claim due messages and act on each; returns how many were claimed."""
        now = self._clock()
        due = {"now_": now, "lapsed_": now - CLAIM_LEASE_MS}
        async with self._db.write() as conn:
            ids = [row[0] for row in await _DUE_IDS.rows(conn, due)]
            if not ids:
                return 0
            rows = (await conn.execute(_CLAIM, {**due, "ids_": ids, "claimed_ms": now})).all()
        if not rows:
            return 0
        await asyncio.gather(*(self._step(row) for row in rows))
        self.steps += len(rows)
        return len(rows)

    # -- one message --------------------------------------------------------------------------

    async def _step(self, msg: Any) -> None:
        try:
            if msg.state == "WAITING":
                await self._timed_out(msg)
            else:
                await self._try_entry(msg)
        except Exception:  # noqa: BLE001 - the claim lapses and the message is tried again
            log.exception("conversation message %s step failed", msg.id)

    async def _write(self, msg: Any, values: dict[str, Any], attempt: dict[str, Any] | None,
                     hooks: list[dict[str, Any]], conn: AsyncConnection,
                     finish_attempt: tuple[int, str, str | None] | None = None) -> bool:
        """Apply `values` to the message if this claim still holds it; with its attempt row and
        callbacks."""
        result = await conn.execute(_UPDATE_CLAIMED, {**values, "id_": msg.id, "state_": msg.state,
                                                      "claimed_ms_": msg.claimed_ms})
        if not result.rowcount:
            return False
        if finish_attempt is not None:
            attempt_id, state, reason = finish_attempt
            await conn.execute(_FINISH_ATTEMPT, {"id_": attempt_id, "state": state, "reason": reason,
                                                 "finished_ms": self._clock()})
        if attempt is not None:
            ins = await conn.execute(_INSERT_ATTEMPT, attempt)
            if values.get("state") == "WAITING":
                primary_key = ins.inserted_primary_key
                assert primary_key is not None  # a single-row insert always reports its key
                await conn.execute(_SET_ATTEMPT_ID, {"id_": msg.id, "attempt_id": primary_key[0]})
        await callbacks.enqueue(conn, hooks)
        return True

    def _attempt(self, msg: Any, entry: dict[str, str], state: str, now: int, *,
                 reason: str | None = None, channel_message_id: str | None = None,
                 billing: str | None = None, deadline: int | None = None) -> dict[str, Any]:
        final = state not in ("SENT",)
        return {"message_id": msg.id, "position": msg.plan_index, "channel": entry["channel"],
                "identity": entry.get("identity"), "state": state, "reason": reason,
                "channel_message_id": channel_message_id, "billing_category": billing,
                "tries": msg.tries + (0 if state == "SKIPPED" else 1), "created_ms": now,
                "deadline_ms": deadline, "finished_ms": now if final else None}

    async def _skip_or_fail(self, msg: Any, entry: dict[str, str], state: str, code: str,
                            description: str) -> None:
        now = self._clock()

        async def work(conn: AsyncConnection) -> None:
            values, hooks = await advance_values(conn, msg, now, entry["channel"], entry.get("identity"),
                                                 {"code": code, "description": description})
            attempt = self._attempt(msg, entry, state, now, reason=f"{code}: {description}")
            await self._write(msg, values, attempt, hooks, conn)

        await self._writes.run(work)

    async def _timed_out(self, msg: Any) -> None:
        entry = (msg.plan or [])[msg.plan_index]
        if await self._revoke(msg, entry) is False:
            return
        now = self._clock()

        async def work(conn: AsyncConnection) -> None:
            values, hooks = await advance_values(
                conn, msg, now, entry["channel"], entry.get("identity"),
                {"code": "DELIVERY_TIMED_OUT", "description": f"not delivered on {entry['channel']} within the ttl"})
            await self._write(msg, values, None, hooks, conn,
                              finish_attempt=(msg.attempt_id, "TIMED_OUT", "DELIVERY_TIMED_OUT"))

        await self._writes.run(work)

    async def _revoke(self, msg: Any, entry: dict[str, str]) -> bool | None:
        """Take back the undelivered message on a channel that can (RCS) before moving on.
        False: the platform says it was delivered already, and the message is marked so."""
        connector = self.connectors.get(entry["channel"])
        revoke = getattr(connector, "revoke", None)
        if revoke is None:
            return None
        out = await self._outbound(msg, entry)
        if isinstance(out, str):
            return None
        try:
            revoked = bool(await revoke(out))
        except Exception:  # noqa: BLE001 - could not take it back: fall back all the same
            log.warning("revoking message %s on %s failed", msg.id, entry["channel"], exc_info=True)
            return None
        if revoked:
            return True
        now = self._clock()

        async def work(conn: AsyncConnection) -> None:
            hooks = await delivery_hooks(conn, msg, "DELIVERED", now, channel=entry["channel"],
                                         identity=entry.get("identity"))
            done = await self._write(msg, {"state": "DELIVERED", "next_ms": None, "claimed_ms": None},
                                     None, hooks, conn)
            if done:
                await conn.execute(update(conv_attempts).where(
                    conv_attempts.c.id == msg.attempt_id, conv_attempts.c.state == "SENT").values(
                    state="DELIVERED", finished_ms=now))

        await self._writes.run(work)
        return False

    async def _outbound(self, msg: Any, entry: dict[str, str]) -> OutboundMessage | str:
        channel = entry["channel"]
        async with self._db.read() as conn:
            creds = await credentials_for(conn, msg.app_id, channel)
            last_inbound = last_outbound = None
            contact_metadata = None
            if msg.contact_id:
                keys = {"app_id_": msg.app_id, "contact_id_": msg.contact_id, "channel_": channel}
                last_inbound = (await conn.execute(_LAST_INBOUND, keys)).scalar()
                if channel in NEEDS_LAST_OUTBOUND:
                    last_outbound = (await conn.execute(_LAST_OUTBOUND, {**keys, "id_": msg.id})).scalar()
                if channel in NEEDS_CONSENT:
                    contact_metadata = (await conn.execute(_CONTACT_METADATA, {"contact_id_": msg.contact_id})).scalar()
        if creds is None and channel != "SMS":
            return f"the app has no {channel} credentials"
        metadata: dict[str, Any] = {"attempt": f"{msg.plan_index}.{msg.tries}"}
        if msg.ttl_ms:
            # When this attempt's ttl runs out and the next channel is tried: a channel that can
            # be told (SMS: the batch's expire_at, the carrier's validity) gives up by then, so
            # the message does not arrive on both.
            metadata["deadline_ms"] = self._clock() + int(msg.ttl_ms)
        if last_outbound is not None:
            metadata["last_outbound_ms"] = int(last_outbound)
        metadata.update(consent_of(contact_metadata))
        extensions = getattr(msg, "extensions", None) or {}
        if isinstance(extensions.get("consent"), dict):  # given for this message (a verification code)
            metadata.update(consent_of(orjson.dumps(extensions["consent"]).decode()))
        properties = extensions.get("channel_properties")
        if properties:
            metadata["channel_properties"] = dict(properties)  # Sinch's, e.g. MESSENGER_MESSAGE_TAG
        return OutboundMessage(
            message_id=msg.id, project_id=msg.project_id, app_id=msg.app_id, channel=channel,
            identity=entry["identity"], content=msg.content, credentials=creds or {},
            correlation_id=msg.correlation_id, last_inbound_ms=last_inbound,
            purpose=conversation_gate.message_policy(msg.metadata)[0],  # type: ignore[arg-type]
            metadata=metadata)

    async def _try_entry(self, msg: Any) -> None:
        plan = msg.plan or []
        if msg.plan_index >= len(plan):
            return
        entry = plan[msg.plan_index]
        connector = self.connectors.get(entry["channel"])
        if connector is None:
            await self._skip_or_fail(msg, entry, "SKIPPED", "CHANNEL_CONFIGURATION_MISSING",
                                     f"no {entry['channel']} connector is configured")
            return
        out = await self._outbound(msg, entry)
        if isinstance(out, str):
            await self._skip_or_fail(msg, entry, "SKIPPED", "CHANNEL_CONFIGURATION_MISSING", out)
            return
        if out.credentials:
            await self._configure(connector, msg.app_id, out.credentials)  # a brand-new app
        verdict = await conversation_gate.check_attempt(self._db, msg, entry, self._clock())
        if not verdict.allowed:
            await self._refused(msg, entry, verdict)
            return
        try:
            capability = await connector.capability(out)
            if not capability.reachable:
                await self._skip_or_fail(msg, entry, "SKIPPED", "RECIPIENT_NOT_REACHABLE",
                                         capability.reason or f"not reachable on {entry['channel']}")
                return
            result = await connector.send(out)
        except (PermanentDeliveryError, ChannelAuthError) as exc:
            code = "CHANNEL_BAD_CONFIGURATION" if isinstance(exc, ChannelAuthError) else "CHANNEL_REJECT"
            await self._skip_or_fail(msg, entry, "FAILED", code, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - transient (TransientDeliveryError, timeouts, bugs)
            await self._transient(msg, entry, exc)
            return
        now = self._clock()
        deadline = now + msg.ttl_ms if msg.ttl_ms else None

        async def work(conn: AsyncConnection) -> None:
            hooks = await delivery_hooks(conn, msg, "QUEUED_ON_CHANNEL", now, channel=entry["channel"],
                                         identity=entry["identity"])
            attempt = self._attempt(msg, entry, "SENT", now, channel_message_id=result.channel_message_id,
                                    billing=result.billing_category, deadline=deadline)
            values = {"state": "WAITING", "next_ms": deadline, "claimed_ms": None,
                      "channel": entry["channel"], "identity": entry["identity"], "tries": msg.tries + 1}
            await self._write(msg, values, attempt, hooks, conn)

        await self._writes.run(work)

    async def _refused(self, msg: Any, entry: dict[str, str], verdict: Any) -> None:
        """The send policy said later (the message waits, PENDING, until then) or no: a consent
        refusal moves on to the next channel, any other refusal (caps, collapse, content) fails
        the message (docs/subsystems/policy.md#conversation)."""
        now = self._clock()
        reason = verdict.conversation_reason
        text = f"{reason['sub_code']}: {verdict.description}"

        async def work(conn: AsyncConnection) -> None:
            if verdict.outcome == "defer":
                await self._write(msg, {"next_ms": verdict.until_ms, "claimed_ms": None, "reason": text},
                                  None, [], conn)
                return
            if (verdict.reason or "").startswith("consent"):
                values, hooks = await advance_values(conn, msg, now, entry["channel"], entry.get("identity"), reason)
            else:
                hooks = await delivery_hooks(conn, msg, "FAILED", now, channel=entry["channel"],
                                             identity=entry.get("identity"), reason=reason)
                values = {"state": "FAILED", "next_ms": None, "claimed_ms": None, "reason": text}
            await self._write(msg, values, self._attempt(msg, entry, "SKIPPED", now, reason=text), hooks, conn)

        await self._writes.run(work)

    async def _transient(self, msg: Any, entry: dict[str, str], exc: Exception) -> None:
        tries = msg.tries + 1
        description = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, TransientDeliveryError):
            log.warning("send on %s raised %s; treated as transient", entry["channel"], description)
        if tries >= MAX_TRIES:
            await self._skip_or_fail(msg, entry, "FAILED", "CHANNEL_FAILURE",
                                     f"{description} (after {tries} tries)")
            return
        delay = self._backoff * (2 ** (tries - 1))
        if isinstance(exc, TransientDeliveryError):
            delay = max(delay, min(exc.retry_after, 30.0))
        next_ms = self._clock() + int(delay * 1000)

        async def work(conn: AsyncConnection) -> None:
            await self._write(msg, {"tries": tries, "next_ms": next_ms, "claimed_ms": None,
                                    "reason": description}, None, [], conn)

        await self._writes.run(work)
