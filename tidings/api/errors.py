"""Errors rendered in the XMS format: `{"code": "...", "text": "..."}` with the HTTP status.

    RequestError(code, text, http_status)   -> that status, {"code", "text"}
    AuthError                               -> 401 + WWW-Authenticate (contains "expired" when
                                               the access token expired: the Sinch SDK refreshes
                                               its token on exactly that)
    NotFound                                -> 404 (also for another project's objects)
    starlette HTTPException (no route, bad method) -> its status, XMS-shaped
    the database away (tidings.api.unavailable) -> 503 "service_unavailable" + Retry-After
    anything else                           -> 500 "internal_error", logged
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from tidings.api.responses import json_response
from tidings.api.unavailable import RETRY_AFTER_SECONDS, is_unavailable, report_unavailable
from tidings.core.errors import AuthError, RequestError

log = logging.getLogger(__name__)

# XMS error codes used by this server.
SYNTAX_INVALID_JSON = "syntax_invalid_json"
SYNTAX_CONSTRAINT_VIOLATION = "syntax_constraint_violation"
SYNTAX_INVALID_PARAMETER_FORMAT = "syntax_invalid_parameter_format"
MISSING_PARAMETER = "missing_parameter"
UNAUTHORIZED = "unauthorized"
NOT_FOUND = "not_found"
CONFLICT = "conflict"
INTERNAL_ERROR = "internal_error"
SERVICE_UNAVAILABLE = "service_unavailable"

_HTTP_CODES = {404: NOT_FOUND, 405: "method_not_allowed", 401: UNAUTHORIZED, 409: CONFLICT}


def xms_error(code: str, text: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return json_response({"code": code, "text": text}, status, headers)


def www_authenticate(exc: AuthError) -> str:
    if exc.expired:
        return 'Bearer error="invalid_token", error_description="The access token expired"'
    return 'Bearer realm="xms", error="invalid_token"'


async def handle_request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    headers = {"WWW-Authenticate": www_authenticate(exc)} if isinstance(exc, AuthError) else None
    return xms_error(exc.code, exc.text, exc.http_status, headers)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "bad_request" if exc.status_code < 500 else INTERNAL_ERROR)
    return xms_error(code, str(exc.detail), exc.status_code, dict(exc.headers or {}))


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    if is_unavailable(exc):
        report_unavailable(log, "xms", request.method, request.url.path, exc)
        return xms_error(SERVICE_UNAVAILABLE, "The service is unavailable for a moment; try again",
                         503, {"Retry-After": RETRY_AFTER_SECONDS})
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return xms_error(INTERNAL_ERROR, "Internal server error", 500)


def invalid(field: str, text: str) -> RequestError:
    """A validation error naming the offending field."""
    return RequestError(SYNTAX_CONSTRAINT_VIOLATION, f"{field}: {text}", 400, {field: text})


__all__ = [
    "handle_http_exception",
    "handle_request_error",
    "handle_unexpected",
    "invalid",
    "www_authenticate",
    "xms_error",
]
