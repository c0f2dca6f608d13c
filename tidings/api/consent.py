"""The consent REST API: a Tidings extension, plus Sinch's consent-list shapes.

Tidings extension, under `/tidings/v1/projects/{project_id}/` (project OAuth2 token or a service
plan token of the project; errors in the XMS format):

    POST /consents                         record opt-ins/opt-outs: one event, or {"events": [...]}
    GET  /consents/{identity}              current state per channel and purpose, and the history
    GET  /consents/{identity}/check        ?channel=SMS&purpose=engagement -> the send decision
    GET  /consents/{identity}/export       ?format=csv|json: one contact's history
    GET  /consents:export                  ?format=csv|json: the project's history (streamed)
    POST /consents/double_opt_in           start a double opt-in (reply YES, or a signed link)
    GET/PUT /consent_settings[/{sender}]   opt-out regimes (project), keyword settings (per sender)

    GET  /tidings/v1/consent/confirm/{token}   the double opt-in link a contact opens (no auth)

Sinch Conversation API consent lists (Conversation error format), mapped onto the ledger:

    GET  /v1/projects/{p}/apps/{app_id}/consents/{list_type}           {"identities": [{"identity"}], "next_page_token"}
    GET  /v1/projects/{p}/apps/{app_id}/consents/identities/{identity} {"identity": {...}, "audit_records": [...]}
    POST /v1/projects/{p}/consents   {"app_id", "consent_records": [{"identification", "consent_type"}]} -> {"batch_id"}
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from tidings.actions import auth as auth_actions
from tidings.api.auth import authenticate_xms
from tidings.api.body import read_body
from tidings.api.conversation.errors import conversation_error
from tidings.api.responses import json_response
from tidings.consent import double_opt_in, export, ledger, settings
from tidings.conversations.system_messages import app_for_channel
from tidings.consent.identity import check_channel, normalize_identity
from tidings.core.errors import RequestError
from tidings.core.ids import ulid
from tidings.policy.consent import ALL, SINCH_LISTS, check_purpose, effective_status
from tidings.runtime.context import Context
from tidings.webhooks.sms_events import iso_timestamp

__all__ = ["routes", "sinch_routes"]

MAX_EVENTS = 1000


def _ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def invalid(field: str, text: str) -> RequestError:
    return RequestError("syntax_constraint_violation", f"{field}: {text}", 400, {field: text})


async def _auth(request: Request) -> tuple[Context, str]:
    ctx = _ctx(request)
    principal = await authenticate_xms(request, ctx, request.path_params["project_id"])
    return ctx, principal.project_id


async def _json(request: Request) -> Any:
    raw = await read_body(request)
    try:
        return orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as exc:
        raise invalid("body", "is not valid JSON") from exc


def _request_proof(request: Request) -> dict[str, Any]:
    return {"request_id": request.headers.get("x-request-id") or ulid(),
            "ip": request.client.host if request.client else None,
            "user_agent": request.headers.get("user-agent")}


def _identity(raw: object, field: str = "identity") -> str:
    try:
        return normalize_identity(raw)
    except ValueError as exc:
        raise invalid(field, str(exc)) from exc


def _event(item: object, i: str, request_proof: dict[str, Any], now: int) -> ledger.Event:
    if not isinstance(item, dict):
        raise invalid(f"events{i}", "must be an object")
    identity = _identity(item.get("identity"), f"events{i}.identity")
    try:
        channel = check_channel(item.get("channel", ALL))
        purpose = check_purpose(item.get("purpose"), allow_all=True)
    except ValueError as exc:
        raise invalid(f"events{i}", str(exc)) from exc
    action = item.get("action")
    if action not in ledger.ACTIONS:
        raise invalid(f"events{i}.action", "must be opt_in or opt_out")
    source = item.get("source", "api")
    if source not in ("api", "import"):
        raise invalid(f"events{i}.source", "must be api or import")
    proof = item.get("proof") or {}
    if not isinstance(proof, dict):
        raise invalid(f"events{i}.proof", "must be an object")
    if source == "import" and not (proof.get("file_sha256") and proof.get("evidence")):
        raise invalid(f"events{i}.proof", "an import needs file_sha256 and evidence")
    at_ms = item.get("at_ms", now)
    if not isinstance(at_ms, int) or isinstance(at_ms, bool) or not 0 < at_ms <= now:
        raise invalid(f"events{i}.at_ms", "must be an epoch-milliseconds time, not in the future")
    return ledger.Event(identity, channel, purpose, action, source, {**proof, **request_proof}, at_ms)


def _state_json(rows: list[Any]) -> list[dict[str, Any]]:
    return [{"channel": r.channel, "purpose": r.purpose, "status": "opted_in" if r.action == "opt_in" else "opted_out",
             "event_id": r.event_id, "at": iso_timestamp(r.at_ms)} for r in rows]


def _history_json(rows: list[Any]) -> list[dict[str, Any]]:
    return [{"event_id": r.id, "channel": r.channel, "purpose": r.purpose, "action": r.action,
             "source": r.source, "proof": r.proof, "at": iso_timestamp(r.at_ms)} for r in rows]


async def record_consents(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    body = await _json(request)
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object")
    now = ctx.clock()
    proof = _request_proof(request)
    items = body["events"] if "events" in body else [body]
    if not isinstance(items, list) or not 0 < len(items) <= MAX_EVENTS:
        raise invalid("events", f"must be a list of 1 to {MAX_EVENTS} events")
    events = [_event(item, f"[{n}]" if "events" in body else "", proof, now) for n, item in enumerate(items)]
    async with ctx.db.write() as conn:
        ids = [await ledger.record(conn, project_id, e) for e in events]
    return json_response({"events": [
        {"event_id": i, "identity": e.identity, "channel": e.channel, "purpose": e.purpose,
         "action": e.action, "source": e.source, "at": iso_timestamp(e.at_ms)} for i, e in zip(ids, events, strict=True)
    ]}, 201)


async def get_consent(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    identity = _identity(request.path_params["identity"])
    async with ctx.db.read() as conn:
        state = await ledger.state_rows(conn, project_id, [identity])
        history = await ledger.history(conn, project_id, identity, limit=MAX_EVENTS)
    entries = [ledger.entry(r) for r in state]
    summary = {p: effective_status(entries, "*", p).value for p in ("engagement", "information", "security", "satisfaction")}
    return json_response({"identity": identity, "state": _state_json(state), "all_channels": summary,
                          "history": _history_json(history)})


async def check(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    identity = _identity(request.path_params["identity"])
    try:
        channel = check_channel(request.query_params.get("channel", "SMS"), allow_all=False)
        purpose = check_purpose(request.query_params.get("purpose", "information"))
    except ValueError as exc:
        raise invalid("query", str(exc)) from exc
    async with ctx.db.read() as conn:
        decision = await ledger.check_consent(conn, project_id, identity, channel, purpose)
    return json_response({"identity": identity, "channel": channel, "purpose": purpose,
                          "allowed": decision.allowed, "reason_code": decision.reason_code,
                          "status": decision.status.value})


def _export(ctx: Context, project_id: str, identity: str | None, fmt: str) -> Response:
    name = f"consents-{project_id}" + (f"-{hashlib.sha256(identity.encode()).hexdigest()[:8]}" if identity else "")
    if fmt == "csv":
        return StreamingResponse(export.stream_csv(ctx.db, project_id, identity), media_type="text/csv",
                                 headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if fmt == "json":
        return StreamingResponse(export.stream_json(ctx.db, project_id, identity), media_type="application/json",
                                 headers={"Content-Disposition": f'attachment; filename="{name}.json"'})
    raise invalid("format", "must be csv or json")


async def export_contact(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    identity = _identity(request.path_params["identity"])
    return _export(ctx, project_id, identity, request.query_params.get("format", "json"))


async def export_project(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    return _export(ctx, project_id, None, request.query_params.get("format", "json"))


async def start_double_opt_in(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    body = await _json(request)
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object")
    identity = _identity(body.get("identity"))
    try:
        channel = check_channel(body.get("channel", "SMS"), allow_all=False)
        raw_purposes = body.get("purposes", ["engagement"])
        if not isinstance(raw_purposes, list) or not raw_purposes:
            raise ValueError("purposes must be a non-empty list")
        purposes = sorted({check_purpose(p, allow_all=True) for p in raw_purposes})
    except ValueError as exc:
        raise invalid("body", str(exc)) from exc
    method = body.get("method", "reply")
    if method not in ("reply", "link"):
        raise invalid("method", "must be reply or link")
    sender = body.get("from")
    if sender is not None and (not isinstance(sender, str) or not 0 < len(sender) <= 32):
        raise invalid("from", "must be a sender number or ID")
    app_id = body.get("app_id")
    if app_id is not None and (not isinstance(app_id, str) or not app_id):
        raise invalid("app_id", "must be a Conversation API app id")
    if method == "reply" and channel == "SMS" and sender is None:
        raise invalid("method", "a reply confirmation on SMS needs a from sender")
    text = body.get("text")
    if text is not None and (not isinstance(text, str) or not 0 < len(text) <= 1000):
        raise invalid("text", "must be a text of 1 to 1000 characters")
    expires = body.get("expires_in_seconds", double_opt_in.DEFAULT_EXPIRY_S)
    if not isinstance(expires, int) or isinstance(expires, bool) or not 0 < expires <= double_opt_in.MAX_EXPIRY_S:
        raise invalid("expires_in_seconds", f"must be 1 to {double_opt_in.MAX_EXPIRY_S}")
    now = ctx.clock()
    key = await auth_actions.server_key(ctx.db, now)
    async with ctx.db.write() as conn:
        if channel != "SMS":  # the request goes as a conversation message of the app
            app_id = await app_for_channel(conn, project_id, channel, app_id)
            if app_id is None and method == "reply":
                raise invalid("app_id", f"a reply confirmation needs an app with {channel} credentials")
        started = await double_opt_in.start(
            conn, key, project_id, identity=identity, channel=channel, purposes=purposes, method=method,
            sender=sender, service_plan_id=None, link_base=str(request.base_url), text=text,
            expires_in_s=expires, proof=_request_proof(request), now=now, app_id=app_id)
    return json_response({
        "id": started.id, "identity": identity, "channel": channel, "purposes": purposes, "method": method,
        "state": "pending", "expires_at": iso_timestamp(started.expires_ms), "request_batch_id": started.request_ref if channel == "SMS" else None,
        **({"request_message_id": started.request_ref} if channel != "SMS" else {}),
        "confirmation_url": f"{str(request.base_url).rstrip('/')}/tidings/v1/consent/confirm/{started.token}",
    }, 201)


async def confirm_link(request: Request) -> Response:
    ctx = _ctx(request)
    now = ctx.clock()
    key = await auth_actions.server_key(ctx.db, now)
    async with ctx.db.write() as conn:
        row = await double_opt_in.find_by_token(conn, key, request.path_params["token"])
        if row is None:
            return HTMLResponse("<h1>This confirmation link is not valid.</h1>", 404)
        done = await double_opt_in.confirm(conn, row, by="link", evidence=_request_proof(request), now=now)
    if done.state == "expired":
        return HTMLResponse("<h1>This confirmation link has expired.</h1>", 410)
    return HTMLResponse("<h1>Thank you, your subscription is confirmed.</h1>", 200)


async def get_settings(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    sender = request.path_params.get("sender", "")
    async with ctx.db.read() as conn:
        config = await settings.load_settings(conn, project_id, sender)
    return json_response({"sender": sender or None, "settings": config or {}})


async def put_settings(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    sender = request.path_params.get("sender", "")
    try:
        config = settings.check_settings(await _json(request), project_level=not sender)
    except ValueError as exc:
        raise invalid("settings", str(exc)) from exc
    async with ctx.db.write() as conn:
        await settings.save_settings(conn, project_id, sender, config, ctx.clock())
    return json_response({"sender": sender or None, "settings": config})


def routes(ctx: Context) -> list[BaseRoute]:
    base = "/tidings/v1/projects/{project_id}"
    return [
        Route(f"{base}/consents", record_consents, methods=["POST"]),
        Route(f"{base}/consents:export", export_project, methods=["GET"]),
        Route(f"{base}/consents/double_opt_in", start_double_opt_in, methods=["POST"]),
        Route(f"{base}/consents/{{identity}}", get_consent, methods=["GET"]),
        Route(f"{base}/consents/{{identity}}/check", check, methods=["GET"]),
        Route(f"{base}/consents/{{identity}}/export", export_contact, methods=["GET"]),
        Route(f"{base}/consent_settings", get_settings, methods=["GET"]),
        Route(f"{base}/consent_settings", put_settings, methods=["PUT"]),
        Route(f"{base}/consent_settings/{{sender}}", get_settings, methods=["GET"]),
        Route(f"{base}/consent_settings/{{sender}}", put_settings, methods=["PUT"]),
        Route("/tidings/v1/consent/confirm/{token}", confirm_link, methods=["GET"]),
    ]


# -- Sinch consent lists --------------------------------------------------------------------------


async def _sinch(request: Request) -> tuple[Context, str] | Response:
    try:
        return await _auth(request)
    except RequestError as exc:
        return conversation_error(exc.http_status, exc.text)


def _list_type(value: str) -> str | None:
    return value if value in SINCH_LISTS else None


async def sinch_list_identities(request: Request) -> Response:
    auth = await _sinch(request)
    if isinstance(auth, Response):
        return auth
    ctx, project_id = auth
    list_type = _list_type(request.path_params["list_type"])
    if list_type is None:
        return conversation_error(400, f"list_type must be one of {', '.join(SINCH_LISTS)}")
    try:
        size = min(max(int(request.query_params.get("page_size") or 10), 1), 50)
    except ValueError:
        return conversation_error(400, "page_size must be an integer")
    after = request.query_params.get("page_token") or ""
    async with ctx.db.read() as conn:
        found = await ledger.listed(conn, project_id, SINCH_LISTS[list_type], after=after, limit=size + 1)
    page = found[:size]
    body: dict[str, Any] = {"identities": [{"identity": i} for i in page]}
    body["next_page_token"] = page[-1] if len(found) > size else ""
    return json_response(body)


_OPERATION = {"opt_out": "INSERT", "opt_in": "DELETE"}
_LIST_OF = {ALL: "OPT_OUT_ALL", "engagement": "OPT_OUT_MARKETING", "information": "OPT_OUT_NOTIFICATION"}


async def sinch_audit_records(request: Request) -> Response:
    auth = await _sinch(request)
    if isinstance(auth, Response):
        return auth
    ctx, project_id = auth
    try:
        identity = normalize_identity(request.path_params["identity"])
    except ValueError as exc:
        return conversation_error(400, str(exc))
    async with ctx.db.read() as conn:
        history = await ledger.history(conn, project_id, identity, limit=MAX_EVENTS)
    records = [{"project_id": project_id, "app_id": request.path_params["app_id"],
                "list_type": _LIST_OF[r.purpose], "operation": _OPERATION[r.action],
                "origin": "MO" if r.source == "keyword" else "BATCH_API" if r.source == "import" else "API",
                "datetime": iso_timestamp(r.at_ms)}
               for r in history if r.purpose in _LIST_OF]
    return json_response({"identity": {"identity": identity}, "audit_records": records})


async def sinch_insert(request: Request) -> Response:
    auth = await _sinch(request)
    if isinstance(auth, Response):
        return auth
    ctx, project_id = auth
    try:
        body = orjson.loads(await read_body(request) or b"{}")
    except orjson.JSONDecodeError:
        return conversation_error(400, "body is not valid JSON")
    records = body.get("consent_records") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(body.get("app_id"), str) or not isinstance(records, list) \
            or not 0 < len(records) <= MAX_EVENTS:
        return conversation_error(400, "app_id and 1 to 1000 consent_records are required")
    now = ctx.clock()
    batch_id = ulid()
    proof = {**_request_proof(request), "batch_id": batch_id, "app_id": body["app_id"]}
    events = []
    for n, rec in enumerate(records):
        if not isinstance(rec, dict):
            return conversation_error(400, f"consent_records[{n}] must be an object")
        list_type = _list_type(rec.get("consent_type", "OPT_OUT_ALL"))
        try:
            identity = normalize_identity(rec.get("identification"))
        except ValueError as exc:
            return conversation_error(400, f"consent_records[{n}].identification: {exc}")
        if list_type is None:
            return conversation_error(400, f"consent_records[{n}].consent_type is not a consent list")
        events.append(ledger.Event(identity, ALL, SINCH_LISTS[list_type], "opt_out", "api", proof, now))
    async with ctx.db.write() as conn:
        for e in events:
            await ledger.record(conn, project_id, e)
    return json_response({"batch_id": batch_id})


def sinch_routes(ctx: Context) -> list[BaseRoute]:
    """Mounted before the Conversation API's own routes (they share `/v1/projects/{p}/`)."""
    base = "/v1/projects/{project_id}"
    return [
        Route(f"{base}/consents", sinch_insert, methods=["POST"]),
        Route(f"{base}/apps/{{app_id}}/consents/identities/{{identity}}", sinch_audit_records, methods=["GET"]),
        Route(f"{base}/apps/{{app_id}}/consents/{{list_type}}", sinch_list_identities, methods=["GET"]),
    ]
