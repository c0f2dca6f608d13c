"""Conversation API writes: apps, app webhooks, contacts (merge), messages:send, deletes.

Contact changes made here (create, update, merge, delete) queue CONTACT_CREATE / _UPDATE /
_MERGE / _DELETE callbacks for every app of the project subscribed to them, in the change's
transaction.

`do_send` is the hot path: the recipient's contact and conversation are looked up (and, in
CONVERSATION processing mode, created with their CONTACT_CREATE callbacks), the channel plan is
computed (`conversations/defaults.py`), and the message row — with everything the engine needs
to work through the plan — goes to the group committer with the rows it depends on. The caller
is answered after that commit; the engine picks the message up from the database.

Idempotency: an `Idempotency-Key` stores a SHA-256 of the body with the message; the same key
and body return the first message id, another body is a 409.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import orjson
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from tidings.conversations import callbacks, queries, retention, views
from tidings.conversations import identities as scoped
from tidings.conversations.checks import (
    check_channel,
    check_channel_credentials,
    check_identity,
    check_message,
    check_ttl,
    invalid,
)
from tidings.conversations.defaults import plan as make_plan
from tidings.conversations.merge import merge_conversations
from tidings.core.errors import NotFound, RequestError
from tidings.core.ids import ulid
from tidings.runtime.context import Context
from tidings.store.conversation_schema import (
    conv_app_webhooks,
    conv_apps,
    conv_contacts,
    conv_conversations,
    conv_identities,
    conv_messages,
)
from tidings.store.schema import webhook_outbox

__all__ = [
    "do_create_app",
    "do_create_contact",
    "do_create_webhook",
    "do_delete_app",
    "do_delete_contact",
    "do_delete_message",
    "do_delete_webhook",
    "do_merge_contacts",
    "do_send",
    "do_update_app",
    "do_update_contact",
    "do_update_message_metadata",
    "do_update_webhook",
]

REPORT_VIEWS = ("NONE", "FULL")
PROCESSING_MODES = ("CONVERSATION", "DISPATCH")
TRIGGERS = frozenset({
    "MESSAGE_DELIVERY", "MESSAGE_INBOUND", "MESSAGE_SUBMIT", "EVENT_DELIVERY", "EVENT_INBOUND",
    "CONVERSATION_START", "CONVERSATION_STOP", "CONVERSATION_DELETE", "CONTACT_CREATE",
    "CONTACT_DELETE", "CONTACT_MERGE", "CONTACT_UPDATE", "CONTACT_IDENTITIES_DUPLICATION",
    "UNSUPPORTED", "OPT_IN", "OPT_OUT", "CAPABILITY", "CHANNEL_EVENT", "SMART_CONVERSATIONS",
    "MESSAGE_INBOUND_SMART_CONVERSATION_REDACTION", "RECORD_NOTIFICATION",
})
MAX_WEBHOOKS_PER_APP = 5
CONFLICT = "ALREADY_EXISTS"


def _body(payload: object) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise invalid("body", "must be a JSON object")
    return payload


# -- apps ---------------------------------------------------------------------------------------

_APP_SETTINGS = ("rate_limits", "retention_policy", "dispatch_retention_policy", "smart_conversation",
                 "callback_settings", "delivery_report_based_fallback", "message_retry_settings")


def _app_columns(body: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    cols: dict[str, Any] = {}
    if "display_name" in body or not partial:
        name = body.get("display_name")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise invalid("display_name", "is required (1 to 200 characters)")
        cols["display_name"] = name
    if "channel_credentials" in body or not partial:
        cols["channel_credentials"] = check_channel_credentials(body.get("channel_credentials"))
    if "conversation_metadata_report_view" in body or not partial:
        view = body.get("conversation_metadata_report_view") or "NONE"
        if view not in REPORT_VIEWS:
            raise invalid("conversation_metadata_report_view", f"must be one of {REPORT_VIEWS}")
        cols["conversation_metadata_report_view"] = view
    if "processing_mode" in body or not partial:
        mode = body.get("processing_mode") or "CONVERSATION"
        if mode not in PROCESSING_MODES:
            raise invalid("processing_mode", f"must be one of {PROCESSING_MODES}")
        cols["processing_mode"] = mode
    return cols


def _app_settings(body: dict[str, Any]) -> dict[str, Any]:
    """The settings the body gives, as given; the retention policies checked first (they decide
    what the sweeper deletes, `tidings.conversations.retention`)."""
    if body.get("retention_policy") is not None:
        retention.check_retention_policy(body["retention_policy"])
    if body.get("dispatch_retention_policy") is not None:
        retention.check_dispatch_retention_policy(body["dispatch_retention_policy"])
    return {k: body[k] for k in _APP_SETTINGS if k in body}


async def do_create_app(ctx: Context, project_id: str, payload: object) -> dict[str, Any]:
    body = _body(payload)
    cols = _app_columns(body, partial=False)
    settings = _app_settings(body)
    row = {"id": ulid(), "project_id": project_id, "settings": settings,
           "created_ms": ctx.clock(), **cols}
    async with ctx.db.write() as conn:
        await conn.execute(conv_apps.insert().values(**row))
        return views.app_json(await queries.app(conn, project_id, row["id"]))


async def do_update_app(ctx: Context, project_id: str, app_id: str, payload: object,
                        update_mask: list[str] | None = None) -> dict[str, Any]:
    body = _body(payload)
    if update_mask:
        body = {k: v for k, v in body.items() if k in update_mask}
    cols = _app_columns(body, partial=True)
    async with ctx.db.write() as conn:
        current = await queries.app(conn, project_id, app_id)
        settings = dict(current.settings or {})
        settings.update(_app_settings(body))
        await conn.execute(update(conv_apps).where(conv_apps.c.id == app_id)
                           .values(settings=settings, **cols))
        return views.app_json(await queries.app(conn, project_id, app_id))


async def do_delete_app(ctx: Context, project_id: str, app_id: str) -> None:
    async with ctx.db.write() as conn:
        await queries.app(conn, project_id, app_id)
        await conn.execute(delete(conv_app_webhooks).where(conv_app_webhooks.c.app_id == app_id))
        await conn.execute(delete(conv_apps).where(conv_apps.c.id == app_id))


# -- app webhooks ---------------------------------------------------------------------------------

def _webhook_columns(body: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    cols: dict[str, Any] = {}
    if "target" in body or not partial:
        target = body.get("target")
        if not isinstance(target, str) or not target.startswith(("http://", "https://")) or len(target) > 742:
            raise invalid("target", "must be an http(s) URL of at most 742 characters")
        cols["target"] = target
    if "target_type" in body or not partial:
        target_type = body.get("target_type") or "HTTP"
        if target_type not in ("HTTP", "DISMISS"):
            raise invalid("target_type", "must be HTTP or DISMISS")
        cols["target_type"] = target_type
    if "triggers" in body or not partial:
        triggers = body.get("triggers")
        if not isinstance(triggers, list) or not triggers:
            raise invalid("triggers", "must be a non-empty list")
        for t in triggers:
            if t not in TRIGGERS:
                raise invalid("triggers", f"unknown trigger {t!r}")
        cols["triggers"] = list(dict.fromkeys(triggers))
    if "secret" in body or not partial:
        secret = body.get("secret")
        if secret is not None and (not isinstance(secret, str) or len(secret) > 200):
            raise invalid("secret", "must be a string of at most 200 characters")
        cols["secret"] = secret
    if "client_credentials" in body:
        cols["client_credentials"] = body["client_credentials"]
    return cols


async def do_create_webhook(ctx: Context, project_id: str, payload: object) -> dict[str, Any]:
    body = _body(payload)
    app_id = body.get("app_id")
    if not isinstance(app_id, str) or not app_id:
        raise invalid("app_id", "is required")
    cols = _webhook_columns(body, partial=False)
    cols.setdefault("client_credentials", None)
    row = {"id": ulid(), "project_id": project_id, "app_id": app_id, "created_ms": ctx.clock(), **cols}
    async with ctx.db.write() as conn:
        await queries.app(conn, project_id, app_id)
        count = (await conn.execute(select(func.count()).select_from(conv_app_webhooks)
                                    .where(conv_app_webhooks.c.app_id == app_id))).scalar_one()
        if count >= MAX_WEBHOOKS_PER_APP:
            raise RequestError("FAILED_PRECONDITION",
                               f"an app has at most {MAX_WEBHOOKS_PER_APP} webhooks", 400)
        await conn.execute(conv_app_webhooks.insert().values(**row))
        return views.webhook_json(await queries.webhook(conn, project_id, row["id"]))


async def do_update_webhook(ctx: Context, project_id: str, webhook_id: str, payload: object) -> dict[str, Any]:
    cols = _webhook_columns(_body(payload), partial=True)
    async with ctx.db.write() as conn:
        await queries.webhook(conn, project_id, webhook_id)
        if cols:
            await conn.execute(update(conv_app_webhooks).where(conv_app_webhooks.c.id == webhook_id)
                               .values(**cols))
        return views.webhook_json(await queries.webhook(conn, project_id, webhook_id))


async def do_delete_webhook(ctx: Context, project_id: str, webhook_id: str) -> None:
    async with ctx.db.write() as conn:
        await queries.webhook(conn, project_id, webhook_id)
        await conn.execute(delete(conv_app_webhooks).where(conv_app_webhooks.c.id == webhook_id))


# -- contacts ---------------------------------------------------------------------------------------

def _identities(value: Any, field: str = "channel_identities") -> list[scoped.Identity]:
    """`[(channel, identity, app_id or "")]`; `app_id` names the app an app-scoped identity
    belongs to (`conversations/identities.py`)."""
    if not isinstance(value, list):
        raise invalid(field, "must be a list")
    out = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise invalid(f"{field}[{i}]", "must be an object")
        channel = check_channel(entry.get("channel"), f"{field}[{i}].channel")
        identity = check_identity(channel, entry.get("identity"), f"{field}[{i}].identity")
        app_id = entry.get("app_id") or ""
        if not isinstance(app_id, str) or len(app_id) > 32:
            raise invalid(f"{field}[{i}].app_id", "must be an app id")
        out.append((channel, identity, app_id))
    return out


async def _check_identity_apps(conn: Any, project_id: str, ids: list[scoped.Identity],
                               field: str = "channel_identities") -> None:
    """Every `app_id` an identity names is an app of the project."""
    named = {app_id for _, _, app_id in ids if app_id}
    if not named:
        return
    known = set((await conn.execute(select(conv_apps.c.id).where(
        conv_apps.c.project_id == project_id, conv_apps.c.id.in_(named)))).scalars())
    for n, (_, _, app_id) in enumerate(ids):
        if app_id and app_id not in known:
            raise invalid(f"{field}[{n}].app_id", f"app {app_id} not found")


def _contact_columns(body: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    cols: dict[str, Any] = {}
    for key, limit in (("display_name", 200), ("email", 320), ("language", 16), ("metadata", 1024),
                       ("external_id", 200)):
        if key in body:
            value = body[key]
            if value is not None and (not isinstance(value, str) or len(value) > limit):
                raise invalid(key, f"must be a string of at most {limit} characters")
            cols[key] = value
        elif not partial:
            cols[key] = None
    if "channel_priority" in body:
        prio = body["channel_priority"]
        if not isinstance(prio, list):
            raise invalid("channel_priority", "must be a list of channels")
        cols["channel_priority"] = [check_channel(c, "channel_priority") for c in prio]
    elif not partial:
        cols["channel_priority"] = None
    return cols


def _identity_rows(project_id: str, contact_id: str, ids: list[scoped.Identity]) -> list[dict[str, Any]]:
    return [{"project_id": project_id, "channel": c, "identity": i, "app_id": a, "contact_id": contact_id,
             "position": n} for n, (c, i, a) in enumerate(ids)]


async def _contact_json(conn: Any, project_id: str, contact_id: str) -> dict[str, Any]:
    row = await queries.contact(conn, project_id, contact_id)
    ids = await queries.identities_of(conn, project_id, [contact_id])
    return views.contact_json(row, ids[contact_id])


async def do_create_contact(ctx: Context, project_id: str, payload: object) -> dict[str, Any]:
    body = _body(payload)
    ids = _identities(body.get("channel_identities"))
    if not ids:
        raise invalid("channel_identities", "at least one channel identity is required")
    cols = _contact_columns(body, partial=False)
    contact_id = ulid()
    try:
        async with ctx.db.write() as conn:
            await _check_identity_apps(conn, project_id, ids)
            await conn.execute(conv_contacts.insert().values(
                id=contact_id, project_id=project_id, created_ms=ctx.clock(), **cols))
            await conn.execute(conv_identities.insert(), _identity_rows(project_id, contact_id, ids))
            contact = await _contact_json(conn, project_id, contact_id)
            await _notify(ctx, conn, project_id, "CONTACT_CREATE", {"contact": contact})
            return contact
    except IntegrityError as exc:
        raise RequestError(CONFLICT, "a channel identity already belongs to another contact", 409) from exc


async def _notify(ctx: Context, conn: Any, project_id: str, trigger: str, notification: dict[str, Any]) -> None:
    """Queue a contact change's callbacks in the transaction that makes the change."""
    await callbacks.enqueue(conn, await callbacks.contact_change_rows(
        conn, project_id, trigger, notification, ctx.clock()))


async def do_update_contact(ctx: Context, project_id: str, contact_id: str, payload: object,
                            update_mask: list[str] | None = None) -> dict[str, Any]:
    body = _body(payload)
    if update_mask:
        body = {k: v for k, v in body.items() if k in update_mask}
    cols = _contact_columns(body, partial=True)
    ids = _identities(body["channel_identities"]) if "channel_identities" in body else None
    try:
        async with ctx.db.write() as conn:
            await queries.contact(conn, project_id, contact_id)
            if ids:
                await _check_identity_apps(conn, project_id, ids)
            if cols:
                await conn.execute(update(conv_contacts).where(conv_contacts.c.id == contact_id)
                                   .values(**cols))
            if ids is not None:
                await conn.execute(delete(conv_identities).where(
                    conv_identities.c.project_id == project_id, conv_identities.c.contact_id == contact_id))
                if ids:
                    await conn.execute(conv_identities.insert(),
                                       _identity_rows(project_id, contact_id, ids))
            contact = await _contact_json(conn, project_id, contact_id)
            await _notify(ctx, conn, project_id, "CONTACT_UPDATE", {"contact": contact})
            return contact
    except IntegrityError as exc:
        raise RequestError(CONFLICT, "a channel identity already belongs to another contact", 409) from exc


async def do_delete_contact(ctx: Context, project_id: str, contact_id: str) -> None:
    async with ctx.db.write() as conn:
        contact = await _contact_json(conn, project_id, contact_id)
        await conn.execute(delete(conv_identities).where(
            conv_identities.c.project_id == project_id, conv_identities.c.contact_id == contact_id))
        await conn.execute(update(conv_conversations).where(
            conv_conversations.c.contact_id == contact_id).values(active=False))
        await conn.execute(delete(conv_contacts).where(conv_contacts.c.id == contact_id))
        await _notify(ctx, conn, project_id, "CONTACT_DELETE", {"contact": contact})


async def do_merge_contacts(ctx: Context, project_id: str, destination_id: str, payload: object) -> dict[str, Any]:
    body = _body(payload)
    source_id = body.get("source_id")
    if not isinstance(source_id, str) or not source_id:
        raise invalid("source_id", "is required")
    if source_id == destination_id:
        raise invalid("source_id", "must differ from the destination contact")
    async with ctx.db.write() as conn:
        dest = await queries.contact(conn, project_id, destination_id)
        src = await queries.contact(conn, project_id, source_id)
        all_ids = await queries.identities_of(conn, project_id, [destination_id, source_id])
        deleted = views.contact_json(src, all_ids[source_id])
        have = {(i["channel"], i["identity"], i.get("app_id", "")) for i in all_ids[destination_id]}
        position = len(all_ids[destination_id])
        for ident in all_ids[source_id]:
            key = (ident["channel"], ident["identity"], ident.get("app_id", ""))
            await conn.execute(delete(conv_identities).where(
                conv_identities.c.project_id == project_id, conv_identities.c.channel == key[0],
                conv_identities.c.identity == key[1], conv_identities.c.app_id == key[2]))
            if key not in have:
                await conn.execute(conv_identities.insert().values(_identity_rows(
                    project_id, destination_id, [key])[0] | {"position": position}))
                position += 1
        fill = {k: getattr(src, k) for k in ("display_name", "email", "language", "metadata",
                                             "external_id", "channel_priority")
                if getattr(dest, k) in (None, "", []) and getattr(src, k)}
        if fill:
            await conn.execute(update(conv_contacts).where(conv_contacts.c.id == destination_id).values(**fill))
        await merge_conversations(conn, source_id, destination_id)
        await conn.execute(delete(conv_contacts).where(conv_contacts.c.id == source_id))
        preserved = await _contact_json(conn, project_id, destination_id)
        await _notify(ctx, conn, project_id, "CONTACT_MERGE",
                      {"preserved_contact": preserved, "deleted_contact": deleted})
        return preserved


# -- messages:send ------------------------------------------------------------------------------

def _request_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _check_send(body: dict[str, Any]) -> dict[str, Any]:
    app_id = body.get("app_id")
    if not isinstance(app_id, str) or not app_id:
        raise invalid("app_id", "is required")
    recipient = body.get("recipient")
    if not isinstance(recipient, dict):
        raise invalid("recipient", "is required")
    contact_id = recipient.get("contact_id")
    identities: list[scoped.Identity] = []
    if contact_id is not None:
        if not isinstance(contact_id, str) or not contact_id:
            raise invalid("recipient.contact_id", "must be a contact id")
    else:
        identified = recipient.get("identified_by")
        if not isinstance(identified, dict):
            raise invalid("recipient", "needs contact_id or identified_by.channel_identities")
        identities = _identities(identified.get("channel_identities"),
                                 "recipient.identified_by.channel_identities")
        if not identities:
            raise invalid("recipient.identified_by.channel_identities", "must not be empty")
    message = check_message(body.get("message"))
    order = body.get("channel_priority_order")
    if order is not None:
        if not isinstance(order, list):
            raise invalid("channel_priority_order", "must be a list of channels")
        order = [check_channel(c, "channel_priority_order") for c in order]
    mode = body.get("processing_mode") or "CONVERSATION"
    if mode not in PROCESSING_MODES:
        raise invalid("processing_mode", f"must be one of {PROCESSING_MODES}")
    if mode == "DISPATCH" and contact_id is not None:
        raise invalid("recipient.contact_id", "DISPATCH mode needs channel identities")
    for key, limit in (("correlation_id", 128), ("message_metadata", 1024), ("callback_url", 742),
                       ("conversation_metadata", 2048)):
        value = body.get(key)
        if value is not None and (not isinstance(value, str | dict) or len(str(value)) > limit):
            raise invalid(key, f"must be at most {limit} characters")
    for key in ("correlation_id", "callback_url"):  # stored and echoed as strings
        if body.get(key) is not None and not isinstance(body[key], str):
            raise invalid(key, "must be a string")
    callback_url = body.get("callback_url")
    if callback_url is not None and not str(callback_url).startswith(("http://", "https://")):
        raise invalid("callback_url", "must be an http(s) URL")
    return {
        "channel_properties": _channel_properties(body.get("channel_properties")),
        "app_id": app_id, "contact_id": contact_id, "identities": identities, "message": message,
        "order": order, "mode": mode, "ttl_ms": check_ttl(body.get("ttl")),
        "correlation_id": body.get("correlation_id"), "callback_url": callback_url,
        "metadata": body.get("message_metadata"),
    }


def _channel_properties(value: Any) -> dict[str, str] | None:
    """Sinch's `channel_properties`: a map of string keys (MESSENGER_MESSAGE_TAG, …) to strings."""
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > 50:
        raise invalid("channel_properties", "must be an object of at most 50 string properties")
    for key, item in value.items():
        if not isinstance(item, str) or not 0 < len(key) <= 100 or len(item) > 1024:
            raise invalid(f"channel_properties.{key}", "must be a string of at most 1024 characters")
    return dict(value) or None


async def _replay(ctx: Context, project_id: str, key: str, digest: str) -> dict[str, Any] | None:
    async with ctx.db.read() as conn:
        row = (await conn.execute(select(conv_messages.c.id, conv_messages.c.request_hash,
                                         conv_messages.c.accept_ms).where(
            conv_messages.c.project_id == project_id, conv_messages.c.idempotency_key == key))).first()
    if row is None:
        return None
    if row.request_hash != digest:
        raise RequestError(CONFLICT, "Idempotency-Key was already used with a different request", 409)
    return {"message_id": row.id, "accepted_time": callbacks.iso(row.accept_ms)}


async def do_send(ctx: Context, project_id: str, payload: object,
                  idempotency_key: str | None = None, *,
                  consent: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate and accept one message; durable before it returns `{message_id, accepted_time}`.

    `consent`: opt-ins the recipient gave for this one message, in the contact metadata's shape
    (`{"whatsapp_opt_in": ["security"]}`) — a verification code the person asked for. Not
    reachable from the HTTP API."""
    body = _body(payload)
    req = _check_send(body)
    req["consent"] = consent
    if idempotency_key is not None and not 0 < len(idempotency_key) <= 200:
        raise invalid("Idempotency-Key", "must be 1 to 200 characters")
    digest = _request_hash(body) if idempotency_key else None
    if idempotency_key and digest:
        replay = await _replay(ctx, project_id, idempotency_key, digest)
        if replay is not None:
            return replay
    for attempt in range(3):
        try:
            return await _accept(ctx, project_id, req, idempotency_key, digest)
        except IntegrityError:
            if idempotency_key and digest:
                replay = await _replay(ctx, project_id, idempotency_key, digest)
                if replay is not None:
                    return replay
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _accept(ctx: Context, project_id: str, req: dict[str, Any], key: str | None,
                  digest: str | None) -> dict[str, Any]:
    now = ctx.clock()
    rows: list[tuple[Any, list[dict[str, Any]]]] = []
    hooks: list[dict[str, Any]] = []
    contact_id = req["contact_id"]
    identities = list(req["identities"])
    conversation_id: str | None = None
    preferred: list[str] = []
    async with ctx.db.read() as conn:
        app = await queries.app(conn, project_id, req["app_id"])
        await _check_identity_apps(conn, project_id, identities, "recipient.identified_by.channel_identities")
        # An app-scoped identity the request names without its app is the sending app's.
        identities = [(c, i, a or (app.id if c in scoped.APP_SCOPED_CHANNELS else "")) for c, i, a in identities]
        if contact_id is not None:
            contact = await queries.contact(conn, project_id, contact_id)
            preferred = list(contact.channel_priority or [])
            known = (await queries.identities_of(conn, project_id, [contact_id]))[contact_id]
            identities = [(i["channel"], i["identity"], i.get("app_id", "")) for i in known]
            if not identities:
                raise RequestError("FAILED_PRECONDITION", "the contact has no channel identities", 400)
        elif req["mode"] == "CONVERSATION":
            contact_id = await queries.contact_by_identities(conn, project_id, identities, app.id)
            if contact_id is not None:
                contact = await queries.contact(conn, project_id, contact_id)
                preferred = list(contact.channel_priority or [])
            else:
                contact_id = ulid()
                rows.append((conv_contacts, [{
                    "id": contact_id, "project_id": project_id, "display_name": None, "email": None,
                    "language": None, "metadata": None, "external_id": None,
                    "channel_priority": None, "created_ms": now}]))
                rows.append((conv_identities, _identity_rows(project_id, contact_id, identities)))
                contact_body = {"id": contact_id, "channel_identities": [
                    scoped.as_json(c, i, a) for c, i, a in identities], "display_name": "Unknown",
                    "language": "UNSPECIFIED", "channel_priority": [], "email": "", "external_id": "",
                    "metadata": ""}
                hooks += await callbacks.rows_for(
                    conn, project_id, app.id, "CONTACT_CREATE",
                    callbacks.contact_event(project_id, app.id, "CONTACT_CREATE", contact_body, now), now)
        if contact_id is not None and req["mode"] == "CONVERSATION":
            conv = await queries.active_conversation(conn, app.id, contact_id)
            if conv is not None:
                conversation_id = conv.id
            else:
                conversation_id = ulid()
                rows.append((conv_conversations, [{
                    "id": conversation_id, "project_id": project_id, "app_id": app.id,
                    "contact_id": contact_id, "active": True, "active_channel": None,
                    "metadata": None, "created_ms": now, "last_ms": now}]))
    plan = make_plan(scoped.reachable_by(identities, app.id), priority_order=req["order"], preferred=preferred)
    if not plan:
        raise RequestError("FAILED_PRECONDITION",
                           "the recipient has no channel identity on any channel to try", 400)
    message_id = ulid()
    rows.append((conv_messages, [{
        "id": message_id, "project_id": project_id, "app_id": app.id,
        "conversation_id": conversation_id,
        "contact_id": contact_id if req["mode"] == "CONVERSATION" else None,
        "direction": "TO_CONTACT", "content": req["message"], "channel": None, "identity": None,
        "metadata": req["metadata"] if isinstance(req["metadata"], str) or req["metadata"] is None
        else orjson.dumps(req["metadata"]).decode(),
        "correlation_id": req["correlation_id"], "callback_url": req["callback_url"],
        "processing_mode": req["mode"], "ttl_ms": req["ttl_ms"], "plan": plan, "plan_index": 0,
        "tries": 0, "state": "PENDING", "next_ms": now, "claimed_ms": None, "attempt_id": None,
        "reason": None, "channel_message_id": None, "accept_ms": now, "idempotency_key": key,
        "request_hash": digest,
        "extensions": _extensions(req),
    }]))
    if hooks:
        rows.append((webhook_outbox, hooks))
    await ctx.committer.insert(rows)
    ctx.conversation_work()
    return {"message_id": message_id, "accepted_time": callbacks.iso(now)}


def _extensions(req: dict[str, Any]) -> dict[str, Any] | None:
    extensions: dict[str, Any] = {}
    if req["channel_properties"]:
        extensions["channel_properties"] = req["channel_properties"]
    if req.get("consent"):
        extensions["consent"] = req["consent"]
    return extensions or None


async def do_delete_message(ctx: Context, project_id: str, message_id: str) -> None:
    async with ctx.db.write() as conn:
        await queries.message(conn, project_id, message_id)
        await conn.execute(update(conv_messages).where(conv_messages.c.id == message_id)
                           .values(state="DELETED", next_ms=None, content={}))


async def do_update_message_metadata(ctx: Context, project_id: str, message_id: str,
                                     payload: object) -> None:
    metadata = _body(payload).get("metadata")
    if not isinstance(metadata, str) or len(metadata) > 1024:
        raise invalid("metadata", "must be a string of at most 1024 characters")
    async with ctx.db.write() as conn:
        await queries.message(conn, project_id, message_id)
        await conn.execute(update(conv_messages).where(conv_messages.c.id == message_id)
                           .values(metadata=metadata))


def new_secret() -> str:
    return secrets.token_urlsafe(24)


__all__ += ["NotFound", "new_secret"]
