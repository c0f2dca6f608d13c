"""Errors rendered in the Conversation API's format:
`{"error": {"code": <HTTP status>, "message": "...", "status": "INVALID_ARGUMENT"}}`.

    RequestError (validation)   400 INVALID_ARGUMENT / FAILED_PRECONDITION, 409 ALREADY_EXISTS
    AuthError                   401 UNAUTHENTICATED (+ WWW-Authenticate, "expired" when it is)
    NotFound                    404 NOT_FOUND (also another project's objects)
    HTTPException               its status (no route, bad method)
    the database away           503 UNAVAILABLE + Retry-After (tidings.api.unavailable)
    anything else               500 INTERNAL, logged
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from tidings.api.errors import www_authenticate
from tidings.api.responses import json_response
from tidings.api.unavailable import RETRY_AFTER_SECONDS, is_unavailable, report_unavailable
from tidings.core.errors import AuthError, NotFound, RequestError

log = logging.getLogger(__name__)

__all__ = ["conversation_error", "handle_http_exception", "handle_request_error", "handle_unexpected"]

_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
           404: "NOT_FOUND", 405: "UNIMPLEMENTED", 409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED",
           500: "INTERNAL", 503: "UNAVAILABLE"}


def conversation_error(http_status: int, message: str, status: str | None = None,
                       headers: dict[str, str] | None = None) -> Response:
    body = {"error": {"code": http_status, "message": message,
                      "status": status or _STATUS.get(http_status, "UNKNOWN"), "details": []}}
    return json_response(body, http_status, headers)


async def handle_request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    if isinstance(exc, AuthError):
        return conversation_error(401, exc.text, "UNAUTHENTICATED",
                                  {"WWW-Authenticate": www_authenticate(exc)})
    if isinstance(exc, NotFound):
        return conversation_error(404, exc.text, "NOT_FOUND")
    status = exc.code if exc.code.isupper() else None
    return conversation_error(exc.http_status, exc.text, status)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return conversation_error(exc.status_code, str(exc.detail), None, dict(exc.headers or {}))


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    if is_unavailable(exc):
        report_unavailable(log, "conversation", request.method, request.url.path, exc)
        return conversation_error(503, "The service is unavailable for a moment; try again", None,
                                  {"Retry-After": RETRY_AFTER_SECONDS})
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return conversation_error(500, "Internal server error", "INTERNAL")
