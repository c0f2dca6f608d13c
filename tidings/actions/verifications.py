"""Verifications: start, report, status. The only code that writes `verifications`.

Start: `check_start` validates the body; `do_start` asks the application's callback (if any),
stores the verification with its code as a keyed hash and sends the code (`verify.senders`). A new
SMS verification is one write: its row goes in the transaction of the code's one-recipient batch
(the group committer's priority lane). Every verification write takes the SQLite write lock's
priority lane (`Database.write(priority=True)`) so that codes are not queued behind bulk sends.
A start for a number that already has a pending verification of the same method re-sends a fresh
code on that verification (up to the application's `max_resends`); any other start that leaves a
new verification pending ABORTs the older ones still pending for that endpoint.

Report: each attempt is one transaction whose first statement is a guarded increment
(`status = PENDING AND attempts < max_attempts AND expires_ms > now`): concurrent reports of the
same code serialise on the row and exactly one of them moves it to SUCCESSFUL; after
`max_attempts` wrong codes the verification is FAIL and stays so.

Lookups are always scoped to the calling application's project: another project's verification
is "not found", by the same query path as a missing one.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import phonenumbers
from sqlalchemy import Row, Table, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.actions.batches import cancel_unsent
from tidings.actions.verify_apps import App, code_key, load_app, wrap_key
from tidings.core.errors import DeliveryError, NotFound, RequestError
from tidings.core.ids import hex_id
from tidings.runtime.context import Context
from tidings.store.schema import batches
from tidings.store.verify_schema import verifications
from tidings.verify import callbacks, codes, result_signing, senders, views
from tidings.verify.model import METHODS, Method, Reason, Status
from tidings.webhooks import outbox

__all__ = [
    "INVALID",
    "StartRequest",
    "check_report",
    "check_start",
    "do_report",
    "do_start",
    "get_by_id",
    "get_by_identity",
    "get_by_reference",
]

log = logging.getLogger(__name__)

# Verification API error codes (`errorCode`).
INVALID = "40001"
NOT_FOUND = "40400"
CONFLICT = "40900"
TOO_MANY = "42900"
FORBIDDEN = "40300"

DEFAULT_TEMPLATE = "Your code is " + senders.CODE_PLACEHOLDER
CALLOUT_SPEECH = "Your verification code is {code}. I repeat: {code}."
CODE_TYPES = {"numeric": "0123456789", "alpha": "ABCDEFGHJKLMNPQRSTUVWXYZ",
              "alphanumeric": "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_REFERENCE = 200
MAX_CUSTOM = 4096
RESENDS_EXHAUSTED = "Too many resends for this verification"
_v = verifications


def invalid(text: str) -> RequestError:
    return RequestError(INVALID, text, 400)


def too_many(text: str, retry_after_ms: int, reason: str | None = None) -> RequestError:
    """429 with the seconds until trying again may succeed (rendered as `Retry-After`)."""
    fields = {"retry_after": str(max(1, -(-retry_after_ms // 1000)))}
    if reason is not None:
        fields["reason"] = reason
    return RequestError(TOO_MANY, text, 429, fields)


@dataclass(frozen=True)
class StartRequest:
    method: Method
    identity_type: str
    endpoint: str
    country_id: str | None
    reference: str | None
    custom: str | None
    template: str | None
    alphabet: str | None
    expiry_seconds: int | None
    locale: str
    dial_timeout_seconds: int | None = None  # flashCallOptions.dialTimeout: how long the call rings


def _object(value: object, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"{field} must be an object")
    return value


def _text(value: object, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise invalid(f"{field} must be a string of 1 to {limit} characters")
    return value


def check_number(raw: object) -> tuple[str, str | None]:
    """(E.164 number, ISO country) of a phone number endpoint."""
    if not isinstance(raw, str) or not raw.strip().startswith("+"):
        raise invalid("identity.endpoint must be a phone number in E.164 format")
    try:
        parsed = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException as exc:
        raise invalid(f"identity.endpoint is not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise invalid("identity.endpoint is not a valid phone number")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return e164, phonenumbers.region_code_for_number(parsed)


def check_email(raw: str) -> str:
    """An email endpoint as it is stored: trimmed and lower-cased (the same address however typed)."""
    return raw.strip().lower()


def _expiry(raw: object) -> int | None:
    """smsOptions.expiry: "HH:MM:SS" (Sinch) or seconds."""
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        seconds = raw
    elif isinstance(raw, str) and re.fullmatch(r"\d{1,2}:\d{2}:\d{2}", raw):
        h, m, s = (int(p) for p in raw.split(":"))
        seconds = h * 3600 + m * 60 + s
    else:
        raise invalid("smsOptions.expiry must be HH:MM:SS")
    if not 30 <= seconds <= 24 * 3600:
        raise invalid("smsOptions.expiry must be between 00:00:30 and 24:00:00")
    return seconds


def _method(value: object) -> Method:
    """The body's `method`: one of METHODS (a list or an object is refused, not a 500)."""
    if not isinstance(value, str) or value not in METHODS:
        raise invalid(f"method must be one of {', '.join(sorted(METHODS))}")
    return Method(value)


def check_start(payload: object) -> StartRequest:
    body = _object(payload, "body")
    m = _method(body.get("method"))
    identity = _object(body.get("identity"), "identity")
    kind = identity.get("type")
    if m is Method.EMAIL:
        if kind != "email" or not isinstance(identity.get("endpoint"), str) or not EMAIL.match(identity["endpoint"]):
            raise invalid("identity must be {\"type\": \"email\", \"endpoint\": <an email address>}")
        endpoint, country = check_email(identity["endpoint"]), None
    else:
        if kind != "number":
            raise invalid("identity.type must be \"number\"")
        endpoint, country = check_number(identity.get("endpoint"))
    sms = _object(body.get("smsOptions"), "smsOptions")
    template = _text(sms.get("template"), "smsOptions.template", 640)
    if template is not None and senders.CODE_PLACEHOLDER not in template:
        raise invalid(f"smsOptions.template must contain {senders.CODE_PLACEHOLDER}")
    code_type = sms.get("codeType")
    if code_type is not None and (not isinstance(code_type, str) or code_type.lower() not in CODE_TYPES):
        raise invalid("smsOptions.codeType must be Numeric, Alpha or Alphanumeric")
    flash = _object(body.get("flashCallOptions"), "flashCallOptions")
    dial = flash.get("dialTimeout")
    if dial is not None and (not isinstance(dial, int) or isinstance(dial, bool) or not 5 <= dial <= 120):
        raise invalid("flashCallOptions.dialTimeout must be 5 to 120 seconds")
    speech = _object(_object(body.get("calloutOptions"), "calloutOptions").get("speech"), "calloutOptions.speech")
    locale = _text(speech.get("locale"), "calloutOptions.speech.locale", 16) or "en-US"
    return StartRequest(
        method=m, identity_type="email" if m is Method.EMAIL else "number", endpoint=endpoint,
        country_id=country, reference=_text(body.get("reference"), "reference", MAX_REFERENCE),
        custom=_text(body.get("custom"), "custom", MAX_CUSTOM), template=template,
        alphabet=CODE_TYPES[code_type.lower()] if isinstance(code_type, str) else None,
        expiry_seconds=_expiry(sms.get("expiry")), locale=locale,
        dial_timeout_seconds=dial if m is Method.FLASH_CALL else None,
    )


# -- start --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    view: dict[str, Any]
    status: str


async def _pending_for(conn: AsyncConnection, project_id: str, endpoint: str, method: str, now: int) -> Row[Any] | None:
    query = (select(_v).where(_v.c.project_id == project_id, _v.c.endpoint == endpoint, _v.c.method == method,
                              _v.c.status == Status.PENDING, _v.c.expires_ms > now)
             .order_by(_v.c.created_ms.desc()).limit(1))
    return (await conn.execute(query)).first()


async def do_start(ctx: Context, app: App, req: StartRequest, base_url: str,
                   client_ip: str | None = None) -> Started:
    now = ctx.clock()
    if ctx.fraud is not None and req.identity_type == "number":
        refusal = await ctx.fraud.check_start(app.project_id, req.endpoint, client_ip, req.method.value,
                                              allow_line_types=app.options.get("allow_line_types", ()))
        if refusal is not None:
            if refusal.retry_after_ms is not None:
                raise too_many(f"{refusal.message} ({refusal.reason})", refusal.retry_after_ms, refusal.reason)
            raise RequestError(FORBIDDEN, f"{refusal.message} ({refusal.reason})", 403, {"reason": refusal.reason})
    key = await code_key(ctx.db, now)
    length = app.code_length
    voice = req.method in (Method.FLASH_CALL, Method.CALLOUT)
    alphabet = codes.DEFAULT_ALPHABET if voice else (req.alphabet or app.code_alphabet)
    expiry = req.expiry_seconds or app.expiry_seconds
    code = codes.generate(length, alphabet)
    async with ctx.db.read() as conn:
        existing = await _pending_for(conn, app.project_id, req.endpoint, req.method, now)
    if existing is not None and existing.reference != req.reference and req.reference is not None:
        existing = None  # a new reference is a new verification
    if existing is not None:
        if existing.sends > app.max_resends:
            raise too_many(RESENDS_EXHAUSTED, existing.expires_ms - now)
        vid = existing.id
    else:
        vid = hex_id(16)
    prefix = app.flash_cli_prefix if req.method is Method.FLASH_CALL else None
    row = {
        "id": vid, "project_id": app.project_id, "app_key": app.key, "method": req.method.value,
        "identity_type": req.identity_type, "endpoint": req.endpoint, "reference": req.reference,
        "custom": req.custom, "status": Status.PENDING.value, "reason": None, "source": None,
        "code_hash": codes.hash_code(key, vid, code), "code_length": length, "cli_prefix": prefix,
        "attempts": 0, "max_attempts": app.max_attempts, "sends": 1, "country_id": req.country_id,
        "call_complete": None, "sent_ref": None, "expires_ms": now + expiry * 1000,
        "created_ms": now, "updated_ms": now, "completed_ms": None,
    }
    if app.callback_url:
        async with httpx.AsyncClient() as http:
            decision = await callbacks.request_event(http, app.callback_url, app.key, app.secret, _Row(row), now)
        if decision.code is not None and req.method is not Method.FLASH_CALL:
            code = decision.code
            row["code_hash"] = codes.hash_code(key, vid, code)
        if not decision.allow:
            row.update(status=Status.DENIED.value, reason=decision.reason, completed_ms=now)
    template = req.template or DEFAULT_TEMPLATE
    cli = codes.flash_cli(prefix, code) if prefix is not None else None
    out = senders.Outgoing(
        project_id=app.project_id, method=req.method, endpoint=req.endpoint, code=code,
        text=(CALLOUT_SPEECH.format(code=" ".join(code)) if req.method is Method.CALLOUT
              else senders.render(template, code)),
        sender=app.sms_sender, cli=cli, ring_seconds=req.dial_timeout_seconds, locale=req.locale,
        conversation_app_id=app.conversation_app_id,
        whatsapp_template=_whatsapp_template(app), expires_ms=row["expires_ms"],
        client_reference=senders.sms_tag(vid) if req.method is Method.SMS else None)
    if req.method is Method.SMS and existing is None and row["status"] == Status.PENDING:
        stored = await _start_sms(ctx, app, row, out, now)
        await _abort_replaced(ctx, app, stored)
        view = views.start_view(base_url, stored, template=template)
        return Started(view, stored.status)
    async with ctx.db.write(priority=True) as conn:
        if existing is not None:
            result = await conn.execute(
                update(_v).where(_v.c.id == vid, _v.c.status == Status.PENDING, _v.c.sends <= app.max_resends)
                .values(code_hash=row["code_hash"], sends=_v.c.sends + 1, expires_ms=row["expires_ms"],
                        updated_ms=now, status=row["status"], reason=row["reason"], completed_ms=row["completed_ms"]))
            if result.rowcount != 1:
                raise too_many(RESENDS_EXHAUSTED, existing.expires_ms - now)
        else:
            try:
                await conn.execute(insert(_v).values(**row))
            except IntegrityError:
                raise RequestError(CONFLICT, "reference is already used by another verification", 409) from None
        stored = await _get(conn, app.project_id, vid)
        if stored.status != Status.PENDING:
            await _queue_result(conn, app, stored, now)
    if stored.status == Status.DENIED:
        raise RequestError(FORBIDDEN, f"Verification denied: {stored.reason}", 403)
    try:
        sent_ref = await senders.send(ctx, out)
    except DeliveryError as exc:
        log.warning("verification %s: the code could not be sent: %s", vid, exc)
        stored = await _finish(ctx, app, vid, Status.ERROR, Reason.NETWORK_ERROR) or stored
    else:
        async with ctx.db.write(priority=True) as conn:
            await conn.execute(update(_v).where(_v.c.id == vid).values(
                sent_ref=sent_ref, call_complete=True if req.method in (Method.FLASH_CALL, Method.CALLOUT) else None))
    await _abort_replaced(ctx, app, stored)
    view = views.start_view(base_url, stored, template=template,
                            cli_filter=codes.cli_filter(prefix, length) if prefix is not None else None)
    return Started(view, stored.status)


async def _abort_replaced(ctx: Context, app: App, new: Any) -> None:
    """Sinch's ABORTED: a verification under way replaces the older ones still pending for the same
    endpoint (any method), so that only the newest code is good. "Older" is (created_ms, id): of two
    starts in the same millisecond, exactly one survives."""
    if new.status != Status.PENDING:
        return
    older = or_(_v.c.created_ms < new.created_ms, and_(_v.c.created_ms == new.created_ms, _v.c.id < new.id))
    async with ctx.db.read() as conn:
        ids = (await conn.execute(select(_v.c.id).where(
            _v.c.project_id == app.project_id, _v.c.endpoint == new.endpoint, _v.c.status == Status.PENDING,
            _v.c.id != new.id, older))).scalars().all()
    for vid in ids:
        await _finish(ctx, app, vid, Status.ABORTED, None)


async def _start_sms(ctx: Context, app: App, row: dict[str, Any], out: senders.Outgoing, now: int) -> Any:
    """A new SMS verification: its row is committed with the code's batch, in one transaction."""

    def related(batch_id: str) -> list[tuple[Table, list[dict[str, Any]]]]:
        row["sent_ref"] = batch_id
        return [(_v, [dict(row)])]

    try:
        await senders.send(ctx, out, related=related)
    except IntegrityError:
        raise RequestError(CONFLICT, "reference is already used by another verification", 409) from None
    except DeliveryError as exc:
        log.warning("verification %s: the code could not be sent: %s", row["id"], exc)
        row.update(status=Status.ERROR.value, reason=Reason.NETWORK_ERROR.value, completed_ms=now, sent_ref=None)
        async with ctx.db.write(priority=True) as conn:
            try:
                await conn.execute(insert(_v).values(**row))
            except IntegrityError:
                raise RequestError(CONFLICT, "reference is already used by another verification", 409) from None
            stored = await _get(conn, app.project_id, row["id"])
            await _queue_result(conn, app, stored, now)
        return stored
    return _Row(row)


def _whatsapp_template(app: App) -> tuple[str, str]:
    """(name, language) of the WhatsApp template codes go out on: the app's
    `options.whatsapp_template` (`{"name", "language"}`) or the default."""
    chosen = app.options.get("whatsapp_template")
    if isinstance(chosen, dict) and isinstance(chosen.get("name"), str):
        return chosen["name"], str(chosen.get("language") or "en_US")
    return senders.DEFAULT_WHATSAPP_TEMPLATE


class _Row:
    """Attribute access to a dict (the row before it is stored)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


async def _get(conn: AsyncConnection, project_id: str, vid: str) -> Row[Any]:
    row = (await conn.execute(select(_v).where(_v.c.id == vid, _v.c.project_id == project_id))).first()
    if row is None:
        raise NotFound("Verification not found")
    return row


async def _record_outcome(ctx: Context, row: Row[Any]) -> None:
    """What the fraud guard learns from a finished verification (SMS pumping per prefix)."""
    if ctx.fraud is not None and row.identity_type == "number" and row.status in (Status.SUCCESSFUL, Status.FAIL):
        await ctx.fraud.record_outcome(row.project_id, row.endpoint, row.status == Status.SUCCESSFUL)


async def _queue_result(conn: AsyncConnection, app: App, row: Row[Any], now: int) -> None:
    """The result event, in the transaction that finished the verification."""
    if app.callback_url:
        body = orjson.dumps(callbacks.result_event(row))
        await outbox.enqueue(conn, [outbox.webhook_row(app.project_id, app.callback_url, "VerificationResultEvent",
                                                       body, now, secret=result_signing.marker(app.key))])


async def _redact(conn: AsyncConnection, row: Row[Any], now: int) -> None:
    """A finished SMS verification's batches no longer need the code in their bodies: the last one
    (`sent_ref`) and those of earlier sends (`senders.sms_tag`, created since the verification).
    A code SMS not yet taken for sending (a resend behind a throughput cap) is cancelled, not
    sent: the code is of no use any more, and the body is redacted."""
    if row.method != Method.SMS:
        return
    carried = and_(batches.c.created_ms >= row.created_ms, batches.c.client_reference == senders.sms_tag(row.id))
    if row.sent_ref:
        carried = or_(batches.c.id == row.sent_ref, carried)
    redacted = await conn.execute(update(batches).where(batches.c.project_id == row.project_id, carried)
                                  .values(body="(verification code redacted)").returning(batches.c.id))
    for batch_id in redacted.scalars().all():
        await cancel_unsent(conn, batch_id, now)


async def _finish(ctx: Context, app: App, vid: str, status: Status, reason: str | None,
                  source: str | None = None) -> Row[Any] | None:
    """PENDING → a final status (guarded); the stored row if this call moved it, else None."""
    now = ctx.clock()
    async with ctx.db.write(priority=True) as conn:
        result = await conn.execute(
            update(_v).where(_v.c.id == vid, _v.c.project_id == app.project_id, _v.c.status == Status.PENDING)
            .values(status=status.value, reason=reason, source=source, completed_ms=now, updated_ms=now))
        if result.rowcount != 1:
            return None
        row = await _get(conn, app.project_id, vid)
        await _queue_result(conn, app, row, now)
        if status is not Status.ERROR:
            await _redact(conn, row, now)
    await _record_outcome(ctx, row)
    return row


# -- report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    method: Method
    code: str | None
    cli: str | None


def check_report(payload: object) -> Report:
    body = _object(payload, "body")
    method = _method(body.get("method"))
    part = _object(body.get(method), method)
    code = _text(part.get("code"), f"{method}.code", 64)
    cli = _text(part.get("cli"), f"{method}.cli", 32)
    if method is Method.FLASH_CALL and cli is None:
        raise invalid("flashCall.cli is required")
    if method is not Method.FLASH_CALL and code is None:
        raise invalid(f"{method}.code is required")
    return Report(method, code, cli)


async def _resolve(conn: AsyncConnection, app: App, *, vid: str | None, endpoint: str | None, method: str,
                   now: int) -> Row[Any]:
    if vid is not None:
        return await _get(conn, app.project_id, vid)
    assert endpoint is not None
    row = await _pending_for(conn, app.project_id, endpoint, method, now)
    if row is None:
        row = (await conn.execute(select(_v).where(_v.c.project_id == app.project_id, _v.c.endpoint == endpoint,
                                                   _v.c.method == method)
                                  .order_by(_v.c.created_ms.desc()).limit(1))).first()
    if row is None:
        raise NotFound("Verification not found")
    return row


async def do_report(ctx: Context, app: App, report: Report, *, vid: str | None = None,
                    endpoint: str | None = None) -> dict[str, Any]:
    now = ctx.clock()
    key = await code_key(ctx.db, now)
    if endpoint is not None:
        endpoint = check_email(endpoint) if "@" in endpoint else check_number(endpoint)[0]
    async with ctx.db.read() as conn:
        row = await _resolve(conn, app, vid=vid, endpoint=endpoint, method=report.method, now=now)
    if row.method != report.method:
        raise invalid(f"this verification's method is {row.method}")
    if row.status != Status.PENDING:
        raise RequestError(CONFLICT, f"Verification is already completed ({row.status})", 409)
    if row.expires_ms <= now:
        done = await _finish(ctx, app, row.id, Status.FAIL, Reason.EXPIRED)
        if done is None:  # another request finished it first (expired it, or the code was right)
            raise RequestError(CONFLICT, "Verification is already completed", 409)
        return views.status_view(done)
    if report.method is Method.FLASH_CALL:
        assert report.cli is not None
        offered = codes.code_from_cli(row.cli_prefix or "", row.code_length, report.cli)
        wrong_reason = Reason.INVALID_CLI
    else:
        offered = report.code
        wrong_reason = Reason.INVALID_CODE
    async with ctx.db.write(priority=True) as conn:
        counted = (await conn.execute(
            update(_v).where(_v.c.id == row.id, _v.c.status == Status.PENDING, _v.c.attempts < _v.c.max_attempts,
                             _v.c.expires_ms > now)
            .values(attempts=_v.c.attempts + 1, updated_ms=now)
            .returning(_v.c.attempts, _v.c.max_attempts, _v.c.code_hash))).first()
        if counted is None:
            current = await _get(conn, app.project_id, row.id)
            if current.status == Status.PENDING:  # expired in between, or out of attempts
                raise RequestError(CONFLICT, "Verification can no longer be reported", 409)
            raise RequestError(CONFLICT, f"Verification is already completed ({current.status})", 409)
        correct = offered is not None and codes.matches(key, row.id, offered, counted.code_hash)
        if correct:
            source = "intercepted" if report.method is Method.FLASH_CALL else "manual"
            await conn.execute(update(_v).where(_v.c.id == row.id).values(
                status=Status.SUCCESSFUL.value, reason=None, source=source, completed_ms=now))
        elif counted.attempts >= counted.max_attempts:
            await conn.execute(update(_v).where(_v.c.id == row.id).values(
                status=Status.FAIL.value, reason=wrong_reason.value, completed_ms=now))
        current = await _get(conn, app.project_id, row.id)
        if current.status != Status.PENDING:
            await _queue_result(conn, app, current, now)
            await _redact(conn, current, now)
    if current.status != Status.PENDING:
        await _record_outcome(ctx, current)
    view = views.status_view(current)
    if not correct:
        view.update(status=Status.FAIL.value, reason=wrong_reason.value)
    return view


# -- status -------------------------------------------------------------------------------


async def _expire_if_due(ctx: Context, app: App, row: Row[Any]) -> Row[Any]:
    """The row as it is now: FAIL "Expired" if it was pending past its expiry. When another
    request finished it meanwhile, the stored row (not the stale PENDING one read before)."""
    if row.status == Status.PENDING and row.expires_ms <= ctx.clock():
        done = await _finish(ctx, app, row.id, Status.FAIL, Reason.EXPIRED)
        if done is not None:
            return done
        async with ctx.db.read() as conn:
            return await _get(conn, app.project_id, row.id)
    return row


async def expire_overdue(ctx: Context, after_ms: int, limit: int = 500) -> tuple[int, int]:
    """Finish FAIL "Expired" the verifications still pending whose expiry is in (`after_ms`,
    now]: nobody asked about them, and their result event (and the fraud guard's count of codes
    never entered) is owed all the same. Returns how many it finished and the expiry up to which
    every row was looked at (the next call's `after_ms`). Finishing is guarded, so two sweepers
    at once finish each row once."""
    now = ctx.clock()
    async with ctx.db.read() as conn:
        rows = (await conn.execute(
            select(_v.c.id, _v.c.app_key, _v.c.expires_ms)
            .where(_v.c.expires_ms > after_ms, _v.c.expires_ms <= now, _v.c.status == Status.PENDING)
            .order_by(_v.c.expires_ms).limit(limit))).all()
        server_key = await wrap_key(ctx.db, now) if rows else b""
        apps = {key: await load_app(conn, server_key, key=key) for key in {r.app_key for r in rows}}
    finished = 0
    for row in rows:
        app = apps[row.app_key]
        if app is not None and await _finish(ctx, app, row.id, Status.FAIL, Reason.EXPIRED) is not None:
            finished += 1
    # A full page may have left rows of its last expiry time behind: look at that time again.
    reached = rows[-1].expires_ms - 1 if len(rows) == limit else now
    return finished, reached


async def get_by_id(ctx: Context, app: App, vid: str) -> dict[str, Any]:
    async with ctx.db.read() as conn:
        row = await _get(conn, app.project_id, vid)
    return views.status_view(await _expire_if_due(ctx, app, row))


async def get_by_reference(ctx: Context, app: App, reference: str) -> dict[str, Any]:
    async with ctx.db.read() as conn:
        row = (await conn.execute(select(_v).where(_v.c.project_id == app.project_id,
                                                   _v.c.reference == reference))).first()
    if row is None:
        raise NotFound("Verification not found")
    return views.status_view(await _expire_if_due(ctx, app, row))


def method_from_path(raw: str) -> Method:
    for m in Method:
        if m.value.lower() == raw.lower():
            return m
    raise invalid(f"method must be one of {', '.join(sorted(METHODS))}")


async def get_by_identity(ctx: Context, app: App, method: str, endpoint: str) -> dict[str, Any]:
    m = method_from_path(method)
    endpoint = check_email(endpoint) if m is Method.EMAIL else check_number(endpoint)[0]
    async with ctx.db.read() as conn:
        row = await _resolve(conn, app, vid=None, endpoint=endpoint, method=m.value, now=ctx.clock())
    return views.status_view(await _expire_if_due(ctx, app, row))
