"""The database away (a statement unanswered, a connection refused or cut, SQLite locked) is
answered 503 with Retry-After in each API's own error format, logged in one line; any other
unexpected error stays a 500 with its traceback logged."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from starlette.requests import Request
from starlette.responses import Response

from tidings.api import errors as xms
from tidings.api.conversation import errors as conversation
from tidings.api.verification import errors as verification
from tidings.observability.metrics import REGISTRY

Handler = Callable[[Request, Exception], Awaitable[Response]]


def _request() -> Request:
    return Request({"type": "http", "method": "POST", "path": "/xms/v1/p/batches", "headers": [],
                    "query_string": b""})


def _counted(api: str) -> float:
    return REGISTRY.get_sample_value("tidings_api_unavailable_total", {"api": api}) or 0.0


def _cut_connection() -> DBAPIError:
    return OperationalError("SELECT 1", None, ConnectionResetError("reset"), connection_invalidated=True)


def _xms(body: dict[str, Any]) -> Any:
    return body["code"]


def _conversation(body: dict[str, Any]) -> Any:
    return body["error"]["status"]


def _verification(body: dict[str, Any]) -> Any:
    return body["errorCode"]


APIS = [
    pytest.param("xms", xms.handle_unexpected, _xms, "service_unavailable", "internal_error", id="xms"),
    pytest.param("conversation", conversation.handle_unexpected, _conversation, "UNAVAILABLE", "INTERNAL",
                 id="conversation"),
    pytest.param("verification", verification.handle_unexpected, _verification, 50300, 50000, id="verification"),
]


@pytest.mark.parametrize("error", [TimeoutError(), ConnectionRefusedError(111, "refused"), _cut_connection(),
                                   OperationalError("INSERT", None, sqlite3.OperationalError("database is locked"))],
                         ids=["unanswered", "refused", "cut", "locked"])
@pytest.mark.parametrize(("api", "handle", "code_of", "unavailable", "internal"), APIS)
async def test_the_database_away_is_503_with_retry_after(api: str, handle: Handler, code_of: Callable[[Any], Any],
                                                         unavailable: Any, internal: Any, error: Exception,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    counted = _counted(api)
    with caplog.at_level(logging.WARNING):
        response = await handle(_request(), error)
    assert _counted(api) == counted + 1
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert code_of(json.loads(bytes(response.body))) == unavailable
    assert [r.exc_info for r in caplog.records] == [None]  # one line, no traceback
    assert "unavailable" in caplog.records[0].getMessage()


@pytest.mark.parametrize(("api", "handle", "code_of", "unavailable", "internal"), APIS)
async def test_other_errors_stay_500(api: str, handle: Handler, code_of: Callable[[Any], Any], unavailable: Any,
                                     internal: Any, caplog: pytest.LogCaptureFixture) -> None:
    counted = _counted(api)
    statement_error = ProgrammingError("SELEC 1", None, sqlite3.OperationalError('near "SELEC": syntax error'))
    for error in (ValueError("a bug"), statement_error):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            response = await handle(_request(), error)
        assert response.status_code == 500
        assert "retry-after" not in response.headers
        assert code_of(json.loads(bytes(response.body))) == internal
        assert caplog.records[0].exc_info is not None  # logged with its traceback
    assert _counted(api) == counted  # not counted as the database away
