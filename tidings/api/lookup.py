"""Number Lookup v2: `POST /v2/projects/{project_id}/lookups`, the project's OAuth2 bearer token.

Mounted as its own Starlette app so that every error, "no such route" included, is rendered in
this API's format, RFC 7807 ProblemDetails (`application/problem+json`):

    {"type": "about:blank", "title": "Bad Request", "status": 400, "detail": "...",
     "instance": "/v2/projects/.../lookups", "traceId": "..."}

    400 invalid JSON, unknown feature, invalid number, RND without rndFeatureOptions.contactDate
    401 missing, bad or expired token (+ WWW-Authenticate; "expired" makes the SDK refresh)
    403 a service plan's API token (this API takes the project's OAuth2 credentials only)
    404/405 no such route or method; 500 anything else, logged

The facts come from `tidings.lookup`; the live network (the sandbox's handsets in the embedded
profile) is `ctx.live_numbers` when the runtime sets one.
"""

from __future__ import annotations

import logging
import uuid
from http import HTTPStatus
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from tidings.api.auth import authenticate_xms
from tidings.api.errors import www_authenticate
from tidings.core.errors import AuthError, RequestError
from tidings.lookup.live import LiveNumbers
from tidings.lookup.service import InvalidLookup, lookup_number
from tidings.runtime.context import Context

__all__ = ["problem", "routes"]

log = logging.getLogger(__name__)


def problem(request: Request, status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail,
            "instance": request.url.path, "traceId": uuid.uuid4().hex}
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/problem+json")


async def lookup(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    try:
        principal = await authenticate_xms(request, ctx, request.path_params["project_id"])
        if principal.service_plan_id is not None:
            return problem(request, 403, "Number Lookup takes the project's OAuth2 credentials")
        try:
            body: Any = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return problem(request, 400, "the body is not valid JSON")
        live: LiveNumbers | None = ctx.live_numbers
        result = lookup_number(body, live, uuid.uuid4().hex)
    except InvalidLookup as exc:
        return problem(request, 400, exc.detail)
    except AuthError as exc:
        return problem(request, 401, exc.text, {"WWW-Authenticate": www_authenticate(exc)})
    except RequestError as exc:
        return problem(request, exc.http_status, exc.text)
    except Exception:  # noqa: BLE001 - rendered, logged
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(request, 500, "Internal server error")
    return Response(orjson.dumps(result), media_type="application/json")


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return problem(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))


def routes(ctx: Context) -> list[BaseRoute]:
    """The API as one mount at /v2/projects/{project_id}, with its own error rendering."""
    sub = Starlette(routes=[Route("/lookups", lookup, methods=["POST"])],
                    exception_handlers={HTTPException: _http_exception})
    sub.state.ctx = ctx
    return [Mount("/v2/projects/{project_id}", app=sub)]
