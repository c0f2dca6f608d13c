"""XMS inbounds: the messages handsets sent to a project's numbers, one by id or paged.

    GET /xms/v1/{path_id}/inbounds?page=&page_size=&to=&start_date=&end_date=&client_reference=
    GET /xms/v1/{path_id}/inbounds/{inbound_id}

The bodies are the `mo_text` (or, for binary messages, `mo_binary`) shapes of
`tidings.webhooks.sms_events`, the same JSON the MO callback carries. Another project's inbound
is a 404.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tidings.api.auth import authenticate_xms
from tidings.api.responses import json_response
from tidings.api.xms.query_params import parse_csv, parse_list_window
from tidings.core.errors import NotFound
from tidings.runtime.context import Context
from tidings.store.queries import inbounds as iq
from tidings.webhooks import sms_events

__all__ = ["inbound_body", "routes"]

def inbound_body(row: Row[Any]) -> dict[str, Any]:
    """An `mo_text` or `mo_binary` from a row of `iq.find_inbound` / `iq.list_inbounds`."""
    if row.type == sms_events.MO_BINARY:
        return sms_events.mo_binary(id=row.id, sender=row.sender, to=row.recipient, body=row.body, udh=row.udh,
                                    received_at_ms=row.received_ms, client_reference=row.client_reference)
    return sms_events.mo_text(
        id=row.id,
        sender=row.sender,
        to=row.recipient,
        body=row.body,
        received_at_ms=row.received_ms,
        client_reference=row.client_reference,
    )


def _context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


async def get_inbound(request: Request) -> Response:
    ctx = _context(request)
    principal = await authenticate_xms(request, ctx, request.path_params["path_id"])
    inbound_id = request.path_params["inbound_id"]
    async with ctx.db.read() as conn:
        row = await iq.find_inbound(conn, principal.project_id, inbound_id)
    if row is None:
        raise NotFound(f"inbound {inbound_id} not found")
    return json_response(inbound_body(row))


async def list_inbounds(request: Request) -> Response:
    ctx = _context(request)
    principal = await authenticate_xms(request, ctx, request.path_params["path_id"])
    params = request.query_params
    window = parse_list_window(params, ctx.clock())
    to = parse_csv(params.get("to")) or None
    async with ctx.db.read() as conn:
        total, rows = await iq.list_inbounds(
            conn,
            principal.project_id,
            start_ms=window.start_ms,
            end_ms=window.end_ms,
            to=to,
            client_reference=params.get("client_reference"),
            offset=window.offset,
            limit=window.page_size,
        )
    return json_response(window.body(total, "inbounds", [inbound_body(row) for row in rows]))


def routes() -> list[Route]:
    base = "/xms/v1/{path_id}"
    return [
        Route(f"{base}/inbounds", list_inbounds, methods=["GET"]),
        Route(f"{base}/inbounds/{{inbound_id}}", get_inbound, methods=["GET"]),
    ]
