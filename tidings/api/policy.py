"""The send policy's settings REST API (Tidings extension; project OAuth2 token or a service plan
token of the project; errors in the XMS format):

    GET /tidings/v1/projects/{project_id}/policy    the settings in force (defaults filled in)
    PUT /tidings/v1/projects/{project_id}/policy    {"caps", "collapse_window_seconds", "quiet_hours"}

The body's shape is in `tidings/policy/settings.py` and docs/subsystems/policy.md#settings.
Workers pick a change up within `tidings.policy.gate.SETTINGS_TTL_S` (2 s).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tidings.actions import policy as actions
from tidings.api.auth import authenticate_xms
from tidings.api.body import read_body
from tidings.api.responses import json_response
from tidings.core.errors import RequestError
from tidings.policy.settings import settings_json
from tidings.runtime.context import Context

__all__ = ["routes"]

PATH = "/tidings/v1/projects/{project_id}/policy"


def routes(ctx: Context) -> list[BaseRoute]:
    async def auth(request: Request) -> str:
        principal = await authenticate_xms(request, ctx, request.path_params["project_id"])
        return principal.project_id

    async def get(request: Request) -> Response:
        project_id = await auth(request)
        return json_response(settings_json(await actions.get_policy(ctx.db, project_id)))

    async def put(request: Request) -> Response:
        project_id = await auth(request)
        raw = await read_body(request)
        try:
            payload: Any = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError as exc:
            raise RequestError("syntax_invalid_json", "the body is not valid JSON") from exc
        return json_response(await actions.do_put_policy(ctx.db, project_id, payload, ctx.clock()))

    return [Route(PATH, get, methods=["GET"]), Route(PATH, put, methods=["PUT"])]
