"""The sender ID registry REST API (Tidings extension; project OAuth2 token or a service plan
token of the project; errors in the XMS format):

    GET    /tidings/v1/projects/{project_id}/senders               {"senders": [...]}
    POST   /tidings/v1/projects/{project_id}/senders               {"address", "kind"?, "registrations"?} -> 201
    GET    /tidings/v1/projects/{project_id}/senders/{address}
    PUT    /tidings/v1/projects/{project_id}/senders/{address}     {"kind"?, "registrations"?} (create or replace)
    DELETE /tidings/v1/projects/{project_id}/senders/{address}     204
    GET    /tidings/v1/projects/{project_id}/sender_policy         {"mode", "defaults"}
    PUT    /tidings/v1/projects/{project_id}/sender_policy         {"mode": off|reject|rewrite, "defaults": {"US": "+1…"}}

`registrations` maps a country code to {"status": registered|pending|rejected, "reference": …}
(a 10DLC campaign id, a DLT header id…).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tidings.actions import senders as actions
from tidings.api.auth import authenticate_xms
from tidings.api.body import read_body
from tidings.api.responses import json_response
from tidings.core.errors import NotFound, RequestError
from tidings.runtime.context import Context
from tidings.store import senders as sq

__all__ = ["routes"]

BASE = "/tidings/v1/projects/{project_id}"


def _sender_json(sender: dict[str, Any]) -> dict[str, Any]:
    return {"address": sender["address"], "kind": sender["kind"],
            "registrations": {c: {"status": r["status"], "reference": r["reference"]}
                              for c, r in sender["registrations"].items()}}


def routes(ctx: Context) -> list[BaseRoute]:
    async def auth(request: Request) -> str:
        principal = await authenticate_xms(request, ctx, request.path_params["project_id"])
        return principal.project_id

    async def body(request: Request) -> Any:
        raw = await read_body(request)
        try:
            return orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError as exc:
            raise RequestError("syntax_invalid_json", "the body is not valid JSON") from exc

    async def show(project_id: str, address: str, status: int = 200) -> Response:
        async with ctx.db.read() as conn:
            sender = await sq.find_sender(conn, project_id, address)
        if sender is None:
            raise NotFound(f"no sender {address}")
        return json_response(_sender_json(sender), status)

    async def list_senders(request: Request) -> Response:
        project_id = await auth(request)
        async with ctx.db.read() as conn:
            found = await sq.list_senders(conn, project_id)
        return json_response({"senders": [_sender_json(s) for s in found]})

    async def create(request: Request) -> Response:
        project_id = await auth(request)
        payload = await body(request)
        address = payload.get("address") if isinstance(payload, dict) else None
        if not isinstance(address, str):
            raise RequestError("syntax_constraint_violation", "address: is required", 400, {"address": "is required"})
        kind, registrations = actions.check_sender(address, payload)
        await actions.do_put_sender(ctx.db, project_id, address, kind, registrations, ctx.clock())
        return await show(project_id, address, 201)

    async def get(request: Request) -> Response:
        return await show(await auth(request), request.path_params["address"])

    async def put(request: Request) -> Response:
        project_id = await auth(request)
        address = request.path_params["address"]
        kind, registrations = actions.check_sender(address, await body(request))
        created = await actions.do_put_sender(ctx.db, project_id, address, kind, registrations, ctx.clock())
        return await show(project_id, address, 201 if created else 200)

    async def remove(request: Request) -> Response:
        project_id = await auth(request)
        if not await actions.do_delete_sender(ctx.db, project_id, request.path_params["address"]):
            raise NotFound(f"no sender {request.path_params['address']}")
        return Response(status_code=204)

    async def get_policy(request: Request) -> Response:
        project_id = await auth(request)
        async with ctx.db.read() as conn:
            policy = await sq.load_policy(conn, project_id)
        return json_response({"mode": policy.mode, "defaults": dict(policy.defaults)})

    async def put_policy(request: Request) -> Response:
        project_id = await auth(request)
        mode, defaults = actions.check_policy(await body(request))
        await actions.do_set_policy(ctx.db, project_id, mode, defaults, ctx.clock())
        return json_response({"mode": mode, "defaults": defaults})

    return [
        Route(f"{BASE}/senders", list_senders, methods=["GET"]),
        Route(f"{BASE}/senders", create, methods=["POST"]),
        Route(f"{BASE}/senders/{{address}}", get, methods=["GET"]),
        Route(f"{BASE}/senders/{{address}}", put, methods=["PUT"]),
        Route(f"{BASE}/senders/{{address}}", remove, methods=["DELETE"]),
        Route(f"{BASE}/sender_policy", get_policy, methods=["GET"]),
        Route(f"{BASE}/sender_policy", put_policy, methods=["PUT"]),
    ]
