"""Errors rendered in the Verification API's format:
`{"errorCode": 40001, "message": "...", "reference": "<id for support>"}` with the HTTP status.

    RequestError(code "4xxxx")    its status, errorCode = int(code); `fields["retry_after"]`
                                  (a 429's seconds) as the Retry-After header
    AuthError                     401, 40100
    NotFound                      404, 40400
    HTTPException                 its status, <status>00 (no route 40400, bad method 40500)
    the database away             503, 50300 + Retry-After (tidings.api.unavailable)
    anything else                 500, 50000, logged with the reference
"""

from __future__ import annotations

import logging
import uuid

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from tidings.api.responses import json_response
from tidings.api.unavailable import RETRY_AFTER_SECONDS, is_unavailable, report_unavailable
from tidings.core.errors import AuthError, NotFound, RequestError

log = logging.getLogger(__name__)

__all__ = ["handle_http_exception", "handle_request_error", "handle_unexpected", "verification_error"]


def verification_error(http_status: int, error_code: int, message: str,
                       headers: dict[str, str] | None = None) -> Response:
    body = {"errorCode": error_code, "message": message, "reference": str(uuid.uuid4())}
    return json_response(body, http_status, headers)


async def handle_request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    if isinstance(exc, AuthError):
        return verification_error(401, 40100, exc.text, {"WWW-Authenticate": 'Application realm="verification"'})
    if isinstance(exc, NotFound):
        return verification_error(404, 40400, exc.text)
    code = int(exc.code) if exc.code.isdigit() else exc.http_status * 100
    retry_after = exc.fields.get("retry_after")
    return verification_error(exc.http_status, code, exc.text, {"Retry-After": retry_after} if retry_after else None)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return verification_error(exc.status_code, exc.status_code * 100, str(exc.detail), dict(exc.headers or {}))


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    if is_unavailable(exc):
        report_unavailable(log, "verification", request.method, request.url.path, exc)
        return verification_error(503, 50300, "The service is unavailable for a moment; try again",
                                  {"Retry-After": RETRY_AFTER_SECONDS})
    response = verification_error(500, 50000, "Internal server error")
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return response
