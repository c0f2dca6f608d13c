"""The Conversation API v1 under `/v1/projects/{project_id}/`, OAuth2 bearer tokens.

    apps          POST/GET /apps, GET/PATCH/DELETE /apps/{app_id}
    webhooks      POST /webhooks, GET/POST /apps/{app_id}/webhooks, GET/PATCH/DELETE /webhooks/{id}
    contacts      POST/GET /contacts, GET/PATCH/DELETE /contacts/{id}, POST /contacts/{id}:merge,
                  GET /contacts:identityConflicts
    messages      POST /messages:send, GET /messages, GET/PATCH(metadata)/DELETE /messages/{id}
    conversations GET /conversations, GET /conversations/{id}, GET /conversations/{id}/messages
    lifecycle.py  POST /conversations, PATCH/DELETE /conversations/{id}, POST /conversations/{id}:stop,
                  POST /events:send, POST /messages:fetch-last-message

Mounted as its own Starlette app so that every error, including "no such route", is rendered in
the Conversation format (`errors.py`). Lists page with `page_size` and an opaque `page_token`
(keyset: `conversations/paging.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from tidings.actions import conversations as actions
from tidings.api.auth import authenticate_xms
from tidings.api.conversation import errors
from tidings.api.conversation.lifecycle import lifecycle_routes
from tidings.api.responses import json_response
from tidings.conversations import paging, queries, views
from tidings.conversations.checks import invalid
from tidings.core.errors import RequestError
from tidings.runtime.context import Context
from tidings.store.conversation_schema import (
    conv_app_webhooks,
    conv_contacts,
    conv_conversations,
    conv_identities,
    conv_messages,
)

__all__ = ["routes"]

MAX_PAGE_SIZE = 1000


def _ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


async def _auth(request: Request) -> tuple[Context, str]:
    ctx = _ctx(request)
    project_id = request.path_params["project_id"]
    principal = await authenticate_xms(request, ctx, project_id)
    if principal.service_plan_id is not None:
        raise RequestError("PERMISSION_DENIED", "use the project's OAuth2 credentials", 403)
    return ctx, principal.project_id


async def _json(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid("body", "is not valid JSON") from exc


def _mask(request: Request) -> list[str] | None:
    raw = request.query_params.getlist("update_mask") or request.query_params.getlist("update_mask.paths")
    fields = [f.strip() for item in raw for f in item.split(",") if f.strip()]
    return fields or None


def _page(request: Request, default: int = 10) -> tuple[int, tuple[int, str] | None]:
    """`page_size` and the decoded `page_token` (`conversations/paging.py`)."""
    try:
        size = int(request.query_params.get("page_size") or default)
    except ValueError as exc:
        raise invalid("page_size", f"must be between 1 and {MAX_PAGE_SIZE}") from exc
    if not 0 < size <= MAX_PAGE_SIZE:
        raise invalid("page_size", f"must be between 1 and {MAX_PAGE_SIZE}")
    return size, paging.decode(request.query_params.get("page_token"))


def _next_token(rows: Sequence[Any], size: int, sort_key: str) -> str:
    """The token of the page after `rows` (fetched `size + 1`): "" when this is the last."""
    if len(rows) <= size:
        return ""
    last = rows[size - 1]
    return paging.encode(int(getattr(last, sort_key)), str(last.id))


def _time(request: Request, name: str) -> int | None:
    """An RFC 3339 query parameter (`start_time`, `end_time`) in epoch milliseconds."""
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        at = datetime.fromisoformat(raw.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise invalid(name, "must be an RFC 3339 timestamp") from exc
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return int(at.timestamp() * 1000)


# -- apps -----------------------------------------------------------------------------------

async def create_app_(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    return json_response(await actions.do_create_app(ctx, project_id, await _json(request)))


async def list_apps(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    async with ctx.db.read() as conn:
        rows = await queries.apps(conn, project_id)
    return json_response({"apps": [views.app_json(r) for r in rows]})


async def get_app(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    async with ctx.db.read() as conn:
        row = await queries.app(conn, project_id, request.path_params["app_id"])
    return json_response(views.app_json(row))


async def update_app(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    return json_response(await actions.do_update_app(
        ctx, project_id, request.path_params["app_id"], await _json(request), _mask(request)))


async def delete_app(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    await actions.do_delete_app(ctx, project_id, request.path_params["app_id"])
    return json_response({})


# -- webhooks --------------------------------------------------------------------------------

async def create_webhook(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    body = await _json(request)
    if "app_id" in request.path_params and isinstance(body, dict):
        body = {**body, "app_id": request.path_params["app_id"]}
    return json_response(await actions.do_create_webhook(ctx, project_id, body))


async def list_webhooks(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    app_id = request.path_params["app_id"]
    async with ctx.db.read() as conn:
        await queries.app(conn, project_id, app_id)
        rows = (await conn.execute(select(conv_app_webhooks).where(
            conv_app_webhooks.c.app_id == app_id).order_by(conv_app_webhooks.c.created_ms))).all()
    return json_response({"webhooks": [views.webhook_json(r) for r in rows]})


async def get_webhook(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    async with ctx.db.read() as conn:
        row = await queries.webhook(conn, project_id, request.path_params["webhook_id"])
    return json_response(views.webhook_json(row))


async def update_webhook(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    return json_response(await actions.do_update_webhook(
        ctx, project_id, request.path_params["webhook_id"], await _json(request)))


async def delete_webhook(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    await actions.do_delete_webhook(ctx, project_id, request.path_params["webhook_id"])
    return json_response({})


# -- contacts --------------------------------------------------------------------------------

async def create_contact(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    return json_response(await actions.do_create_contact(ctx, project_id, await _json(request)))


async def list_contacts(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    size, token = _page(request)
    q = select(conv_contacts).where(conv_contacts.c.project_id == project_id, paging.after(
        conv_contacts.c.created_ms, conv_contacts.c.id, token, sort_descending=False, id_descending=False))
    if request.query_params.get("external_id"):
        q = q.where(conv_contacts.c.external_id == request.query_params["external_id"])
    channel, identity = request.query_params.get("channel"), request.query_params.get("identity")
    if channel and identity:
        q = q.where(conv_contacts.c.id.in_(select(conv_identities.c.contact_id).where(
            conv_identities.c.project_id == project_id, conv_identities.c.channel == channel,
            conv_identities.c.identity == identity)))
    q = q.order_by(conv_contacts.c.created_ms, conv_contacts.c.id).limit(size + 1)
    async with ctx.db.read() as conn:
        rows = (await conn.execute(q)).all()
        ids = await queries.identities_of(conn, project_id, [r.id for r in rows[:size]])
    return json_response({"contacts": [views.contact_json(r, ids[r.id]) for r in rows[:size]],
                          "next_page_token": _next_token(rows, size, "created_ms")})


async def get_contact(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    contact_id = request.path_params["contact_id"]
    async with ctx.db.read() as conn:
        row = await queries.contact(conn, project_id, contact_id)
        ids = await queries.identities_of(conn, project_id, [contact_id])
    return json_response(views.contact_json(row, ids[contact_id]))


async def update_contact(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    return json_response(await actions.do_update_contact(
        ctx, project_id, request.path_params["contact_id"], await _json(request), _mask(request)))


async def delete_contact(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    await actions.do_delete_contact(ctx, project_id, request.path_params["contact_id"])
    return json_response({})


async def merge_contact(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    return json_response(await actions.do_merge_contacts(
        ctx, project_id, request.path_params["contact_id"], await _json(request)))


# -- messages --------------------------------------------------------------------------------

async def send_message(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    return json_response(await actions.do_send(ctx, project_id, await _json(request),
                                                request.headers.get("idempotency-key")))


async def _messages_page(ctx: Context, project_id: str, request: Request,
                         conversation_id: str | None = None) -> dict[str, Any]:
    size, token = _page(request)
    m = conv_messages.c
    q = select(conv_messages).where(m.project_id == project_id, m.state != "DELETED", paging.after(
        m.accept_ms, m.id, token, sort_descending=True, id_descending=True))
    params = request.query_params
    conversation_id = conversation_id or params.get("conversation_id")
    for column, value in ((m.conversation_id, conversation_id), (m.contact_id, params.get("contact_id")),
                          (m.app_id, params.get("app_id")), (m.channel, params.get("channel")),
                          (m.identity, params.get("channel_identity")),
                          (m.direction, params.get("direction"))):
        if value:
            q = q.where(column == value)
    if params.get("only_recipient_originated") in ("true", "True", "1"):
        q = q.where(m.direction == "TO_APP")
    start, end = _time(request, "start_time"), _time(request, "end_time")
    if start is not None and end is not None and start >= end:
        raise invalid("start_time", "must be before end_time")
    if start is not None:
        q = q.where(m.accept_ms >= start)
    if end is not None:
        q = q.where(m.accept_ms < end)
    q = q.order_by(m.accept_ms.desc(), m.id.desc()).limit(size + 1)
    async with ctx.db.read() as conn:
        rows = (await conn.execute(q)).all()
        attempts = await queries.attempts_of(conn, [r.id for r in rows[:size]])
    return {"messages": [views.message_json(r, attempts[r.id]) for r in rows[:size]],
            "next_page_token": _next_token(rows, size, "accept_ms")}


async def list_messages(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    return json_response(await _messages_page(ctx, project_id, request))


async def get_message(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    async with ctx.db.read() as conn:
        row = await queries.message(conn, project_id, request.path_params["message_id"])
        attempts = await queries.attempts_of(conn, [row.id])
    return json_response(views.message_json(row, attempts[row.id]))


async def update_message(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    message_id = request.path_params["message_id"]
    await actions.do_update_message_metadata(ctx, project_id, message_id, await _json(request))
    async with ctx.db.read() as conn:
        row = await queries.message(conn, project_id, message_id)
        attempts = await queries.attempts_of(conn, [row.id])
    return json_response(views.message_json(row, attempts[row.id]))


async def identity_conflicts(request: Request) -> Response:
    """A channel identity belongs to one contact here (merging resolves the rest): none."""
    await _auth(request)
    return json_response({"conflicts": [], "next_page_token": ""})


async def delete_message(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    await actions.do_delete_message(ctx, project_id, request.path_params["message_id"])
    return json_response({})


# -- conversations ---------------------------------------------------------------------------

async def list_conversations(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    size, token = _page(request)
    c = conv_conversations.c
    matching = [c.project_id == project_id]
    for column, value in ((c.app_id, request.query_params.get("app_id")),
                          (c.contact_id, request.query_params.get("contact_id"))):
        if value:
            matching.append(column == value)
    if request.query_params.get("only_active") in ("true", "True", "1"):
        matching.append(c.active.is_(True))
    q = (select(conv_conversations)
         .where(*matching, paging.after(c.last_ms, c.id, token, sort_descending=True, id_descending=False))
         .order_by(c.last_ms.desc(), c.id).limit(size + 1))
    async with ctx.db.read() as conn:
        rows = (await conn.execute(q)).all()
        total = (await conn.execute(select(func.count()).select_from(conv_conversations)
                                    .where(*matching))).scalar_one()
    return json_response({"conversations": [views.conversation_json(r) for r in rows[:size]],
                          "next_page_token": _next_token(rows, size, "last_ms"),
                          "total_size": total})


async def _conversation(ctx: Context, project_id: str, conversation_id: str) -> Any:
    async with ctx.db.read() as conn:
        row = (await conn.execute(select(conv_conversations).where(
            conv_conversations.c.id == conversation_id,
            conv_conversations.c.project_id == project_id))).first()
    if row is None:
        from tidings.core.errors import NotFound

        raise NotFound(f"conversation {conversation_id} not found")
    return row


async def get_conversation(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    return json_response(views.conversation_json(
        await _conversation(ctx, project_id, request.path_params["conversation_id"])))


async def conversation_messages(request: Request) -> Response:
    ctx, project_id = await _auth(request)
    conversation_id = request.path_params["conversation_id"]
    await _conversation(ctx, project_id, conversation_id)
    return json_response(await _messages_page(ctx, project_id, request, conversation_id))


def _project_routes() -> list[BaseRoute]:
    return [
        *lifecycle_routes(_auth, _json, _mask),
        Route("/apps", create_app_, methods=["POST"]),
        Route("/apps", list_apps, methods=["GET"]),
        Route("/apps/{app_id}/webhooks", create_webhook, methods=["POST"]),
        Route("/apps/{app_id}/webhooks", list_webhooks, methods=["GET"]),
        Route("/apps/{app_id}", get_app, methods=["GET"]),
        Route("/apps/{app_id}", update_app, methods=["PATCH"]),
        Route("/apps/{app_id}", delete_app, methods=["DELETE"]),
        Route("/webhooks", create_webhook, methods=["POST"]),
        Route("/webhooks/{webhook_id}", get_webhook, methods=["GET"]),
        Route("/webhooks/{webhook_id}", update_webhook, methods=["PATCH"]),
        Route("/webhooks/{webhook_id}", delete_webhook, methods=["DELETE"]),
        Route("/apps/{app_id}/webhooks/{webhook_id}", get_webhook, methods=["GET"]),
        Route("/apps/{app_id}/webhooks/{webhook_id}", update_webhook, methods=["PATCH"]),
        Route("/apps/{app_id}/webhooks/{webhook_id}", delete_webhook, methods=["DELETE"]),
        Route("/contacts", create_contact, methods=["POST"]),
        Route("/contacts", list_contacts, methods=["GET"]),
        Route("/contacts:identityConflicts", identity_conflicts, methods=["GET"]),
        Route("/contacts/{contact_id}:merge", merge_contact, methods=["POST"]),
        Route("/contacts/{contact_id}", get_contact, methods=["GET"]),
        Route("/contacts/{contact_id}", update_contact, methods=["PATCH"]),
        Route("/contacts/{contact_id}", delete_contact, methods=["DELETE"]),
        Route("/messages:send", send_message, methods=["POST"]),
        Route("/messages", list_messages, methods=["GET"]),
        Route("/messages/{message_id}", get_message, methods=["GET"]),
        Route("/messages/{message_id}", delete_message, methods=["DELETE"]),
        Route("/messages/{message_id}", update_message, methods=["PATCH"]),
        Route("/conversations", list_conversations, methods=["GET"]),
        Route("/conversations/{conversation_id}", get_conversation, methods=["GET"]),
        Route("/conversations/{conversation_id}/messages", conversation_messages, methods=["GET"]),
    ]


def _guarded(endpoint: Any) -> Any:
    """Unexpected errors as a Conversation-format 500 (a mounted app's own `Exception` handler
    would re-raise into the outer app)."""

    async def wrapper(request: Request) -> Response:
        try:
            response: Response = await endpoint(request)
        except (RequestError, HTTPException):
            raise
        except Exception as exc:  # noqa: BLE001 - rendered, logged
            return await errors.handle_unexpected(request, exc)
        return response

    return wrapper


def routes(ctx: Context) -> list[BaseRoute]:
    """The API as one mount at /v1, with its own error rendering."""
    project_routes = [Route(r.path, _guarded(r.endpoint), methods=list(r.methods or []))
                      for r in _project_routes() if isinstance(r, Route)]
    sub = Starlette(
        routes=[Mount("/projects/{project_id}", routes=project_routes)],
        exception_handlers={
            RequestError: errors.handle_request_error,
            HTTPException: errors.handle_http_exception,
        },
    )
    sub.state.ctx = ctx
    return [Mount("/v1", app=sub)]
