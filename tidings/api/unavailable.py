"""Which unexpected errors mean "the database is away for now" rather than a fault in a request.

A statement left unanswered (the `database_timeout_seconds` setting), a connection refused
or found cut, or the database unable to act for now (DB-API's OperationalError: SQLite locked
past its busy timeout by another program, or its disk full): nothing the request asked for was
done (or, for a commit cut short, an Idempotency-Key finds it when the request is sent again).
Each API answers these 503 with Retry-After, in its own error format, so that clients try again
instead of giving up on a 500.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError, OperationalError

from tidings.observability.metrics import API_UNAVAILABLE

RETRY_AFTER_SECONDS = "1"


def is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    return isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


def report_unavailable(log: logging.Logger, api: str, method: str, path: str, exc: BaseException) -> None:
    """Counted (`tidings_api_unavailable_total`) and logged in one line, not a traceback: a
    database away fails every request alike. (A TimeoutError or ConnectionError may also come
    from another service a request needed; 503 is the answer for that too.)"""
    API_UNAVAILABLE.labels(api).inc()
    log.warning("%s %s answered 503: the database or a service it needs is unavailable (%s: %s)",
                method, path, type(exc).__name__, str(exc)[:200])


__all__ = ["RETRY_AFTER_SECONDS", "is_unavailable", "report_unavailable"]
