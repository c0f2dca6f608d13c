"""XMS groups endpoints under `/xms/v1/{path_id}/groups`: create (POST, 201), list (GET, paged),
get, replace (PUT), update (POST), delete (DELETE) and members (GET `/{group_id}/members`, a bare
JSON array). Parse, authenticate, call actions, serialise.

A create or replace without a body is an empty group: the Sinch SDK sends none when it was given
no field (`groups.create()`).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tidings.actions import groups as actions
from tidings.api.auth import authenticate_xms
from tidings.api.responses import json_response
from tidings.api.xms import query_params as qp
from tidings.api.xms.bodies import json_body
from tidings.core.groups import Keywords
from tidings.runtime.context import Context
from tidings.webhooks.sms_events import iso_timestamp

__all__ = ["group_json", "routes"]


def _keywords_json(keywords: Keywords) -> dict[str, str]:
    out = {"first_word": keywords.first_word}
    if keywords.second_word is not None:
        out["second_word"] = keywords.second_word
    return out


def group_json(group: actions.Group) -> dict[str, Any]:
    """XMS's group: unset optional fields (name, child_groups, auto_update) left out."""
    out: dict[str, Any] = {"id": group.id}
    if group.name is not None:
        out["name"] = group.name
    out["size"] = group.size
    out["created_at"] = iso_timestamp(group.created_ms)
    out["modified_at"] = iso_timestamp(group.modified_ms)
    if group.child_groups:
        out["child_groups"] = list(group.child_groups)
    auto = group.auto_update
    if auto is not None:
        auto_json: dict[str, Any] = {"to": auto.to}
        if auto.add is not None:
            auto_json["add"] = _keywords_json(auto.add)
        if auto.remove is not None:
            auto_json["remove"] = _keywords_json(auto.remove)
        out["auto_update"] = auto_json
    return out


def routes(ctx: Context) -> list[Route]:
    async def create(request: Request) -> Response:
        principal = await authenticate_xms(request, ctx, request.path_params["path_id"])
        payload = await json_body(request, empty={})
        group = await actions.do_create_group(ctx, principal.project_id, payload)
        return json_response(group_json(group), 201)

    async def list_groups(request: Request) -> Response:
        principal = await authenticate_xms(request, ctx, request.path_params["path_id"])
        page = qp.parse_page(request.query_params.get("page"))
        page_size = qp.parse_page_size(request.query_params.get("page_size"))
        count, groups = await actions.list_groups(ctx, principal.project_id, page, page_size)
        return json_response({"count": count, "page": page, "page_size": len(groups),
                              "groups": [group_json(g) for g in groups]})

    async def get(request: Request) -> Response:
        principal = await authenticate_xms(request, ctx, request.path_params["path_id"])
        group = await actions.get_group(ctx, principal.project_id, request.path_params["group_id"])
        return json_response(group_json(group))

    async def replace(request: Request) -> Response:
        principal = await authenticate_xms(request, ctx, request.path_params["path_id"])
        payload = await json_body(request, empty={})
        group = await actions.do_replace_group(ctx, principal.project_id, request.path_params["group_id"], payload)
        return json_response(group_json(group))

    async def update(request: Request) -> Response:
        principal = await authenticate_xms(request, ctx, request.path_params["path_id"])
        payload = await json_body(request, empty={})
        group = await actions.do_update_group(ctx, principal.project_id, request.path_params["group_id"], payload)
        return json_response(group_json(group))

    async def delete(request: Request) -> Response:
        principal = await authenticate_xms(request, ctx, request.path_params["path_id"])
        await actions.do_delete_group(ctx, principal.project_id, request.path_params["group_id"])
        return Response(status_code=200)

    async def members(request: Request) -> Response:
        principal = await authenticate_xms(request, ctx, request.path_params["path_id"])
        numbers = await actions.group_members(ctx, principal.project_id, request.path_params["group_id"])
        return json_response(numbers)

    base = "/xms/v1/{path_id}/groups"
    return [
        Route(base, create, methods=["POST"]),
        Route(base, list_groups, methods=["GET"]),
        Route(base + "/{group_id}", get, methods=["GET"]),
        Route(base + "/{group_id}", update, methods=["POST"]),
        Route(base + "/{group_id}", replace, methods=["PUT"]),
        Route(base + "/{group_id}", delete, methods=["DELETE"]),
        Route(base + "/{group_id}/members", members, methods=["GET"]),
    ]
