"""The Verification API v1 routes, mounted at `/verification/v1` with their own error format.

    POST /verifications                          start (sms, flashCall, callout, whatsapp, email)
    PUT  /verifications/id/{id}                  report a code (or a flash call's CLI) by id
    PUT  /verifications/number/{endpoint}        … by the number (or email) it was sent to
    GET  /verifications/id/{id}                  status by id
    GET  /verifications/reference/{reference}    status by the caller's reference
    GET  /verifications/{method}/number/{endpoint}  status of the latest for that identity

Every request authenticates first (`auth.py`), then validates, then writes: a refused request
writes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from tidings.actions import verifications as actions
from tidings.actions.verify_apps import App
from tidings.api.responses import json_response
from tidings.api.verification import errors
from tidings.api.verification.auth import authenticate_application
from tidings.core.errors import RequestError
from tidings.runtime.context import Context

__all__ = ["routes"]


def _ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


async def _auth(request: Request) -> tuple[Context, App, bytes]:
    ctx = _ctx(request)
    body = await request.body()
    app = await authenticate_application(request, ctx, body)
    return ctx, app, body


def _json(raw: bytes) -> Any:
    if not raw:
        raise actions.invalid("a JSON body is required")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise actions.invalid("the body is not valid JSON") from None


def _base_url(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


async def start(request: Request) -> Response:
    ctx, app, raw = await _auth(request)
    req = actions.check_start(_json(raw))
    client_ip = request.client.host if request.client else None
    started = await actions.do_start(ctx, app, req, _base_url(request), client_ip)
    return json_response(started.view)


async def report_by_id(request: Request) -> Response:
    ctx, app, raw = await _auth(request)
    report = actions.check_report(_json(raw))
    return json_response(await actions.do_report(ctx, app, report, vid=request.path_params["id"]))


async def report_by_number(request: Request) -> Response:
    ctx, app, raw = await _auth(request)
    report = actions.check_report(_json(raw))
    return json_response(await actions.do_report(ctx, app, report, endpoint=request.path_params["endpoint"]))


async def status_by_id(request: Request) -> Response:
    ctx, app, _ = await _auth(request)
    return json_response(await actions.get_by_id(ctx, app, request.path_params["id"]))


async def status_by_reference(request: Request) -> Response:
    ctx, app, _ = await _auth(request)
    return json_response(await actions.get_by_reference(ctx, app, request.path_params["reference"]))


async def status_by_identity(request: Request) -> Response:
    ctx, app, _ = await _auth(request)
    params = request.path_params
    return json_response(await actions.get_by_identity(ctx, app, params["method"], params["endpoint"]))


def _guarded(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """Unexpected failures rendered in this API's format too (500, errorCode 50000)."""

    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except (RequestError, HTTPException):
            raise
        except Exception as exc:  # noqa: BLE001 - rendered and logged
            return await errors.handle_unexpected(request, exc)

    return guarded


def routes(ctx: Context) -> list[BaseRoute]:
    sub = Starlette(
        routes=[
            Route("/verifications", _guarded(start), methods=["POST"]),
            Route("/verifications/id/{id}", _guarded(report_by_id), methods=["PUT"]),
            Route("/verifications/id/{id}", _guarded(status_by_id), methods=["GET"]),
            Route("/verifications/number/{endpoint}", _guarded(report_by_number), methods=["PUT"]),
            Route("/verifications/reference/{reference}", _guarded(status_by_reference), methods=["GET"]),
            Route("/verifications/{method}/number/{endpoint}", _guarded(status_by_identity), methods=["GET"]),
        ],
        exception_handlers={
            RequestError: errors.handle_request_error,
            HTTPException: errors.handle_http_exception,
        },
    )
    sub.state.ctx = ctx
    return [Mount("/verification/v1", app=sub)]
