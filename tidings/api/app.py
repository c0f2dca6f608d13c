"""The ASGI application: every HTTP surface mounted on one Starlette app.

`create_app(ctx)` mounts `/oauth2/token`, the XMS SMS API under `/xms/v1/{id}/`, the Conversation
API under `/v1/projects/{project_id}/` (its own error format), the Verification API under
`/verification/v1/` (likewise), Number Lookup v2 under `/v2/projects/{project_id}/` (ProblemDetails), the consent API
(`/tidings/v1/projects/{project_id}/consents…`, Sinch consent lists; `api/consent.py`),
`GET /health`
and any `extra_routes` (the sandbox's, `/metrics`), and installs the XMS error handlers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tidings.api import consent, errors, lookup, oauth, policy, senders
from tidings.api.conversation import routes as conversation_api
from tidings.api.verification import routes as verification_api
from tidings.api.responses import json_response
from tidings.api.timing import RequestTiming
from tidings.api.xms import batches as xms_batches
from tidings.api.xms import groups as xms_groups
from tidings.api.xms import inbounds as xms_inbounds
from tidings.api.xms import reports as xms_reports
from tidings.core.errors import RequestError
from tidings.runtime.context import Context


def _health(ctx: Context) -> Route:
    async def health(request: Request) -> Response:
        try:
            async with ctx.db.read() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any database failure means unhealthy
            return json_response({"status": "unavailable", "error": type(exc).__name__}, 503)
        return json_response({"status": "ok"})

    return Route("/health", health, methods=["GET"])


def create_app(ctx: Context, *, extra_routes: Sequence[BaseRoute] = (), lifespan: Any = None) -> Starlette:
    routes: list[BaseRoute] = [
        _health(ctx),
        *oauth.routes(ctx),
        *xms_batches.routes(ctx),
        *xms_groups.routes(ctx),
        *xms_reports.routes(),
        *xms_inbounds.routes(),
        *consent.sinch_routes(ctx),  # Sinch consent lists share /v1/projects/{p}/ with it
        *conversation_api.routes(ctx),
        *consent.routes(ctx),
        *senders.routes(ctx),  # the sender ID registry (Tidings extension)
        *policy.routes(ctx),  # send policy settings: caps, collapse, quiet hours (Tidings extension)
        *verification_api.routes(ctx),
        *lookup.routes(ctx),
        *extra_routes,
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            RequestError: errors.handle_request_error,
            HTTPException: errors.handle_http_exception,
            Exception: errors.handle_unexpected,
        },
        middleware=[Middleware(RequestTiming)],
    )
    app.state.ctx = ctx
    return app


__all__ = ["create_app"]
