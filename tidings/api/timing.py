"""Request latency per route template into the `tidings_api_request_seconds` histogram.

A plain ASGI middleware (no BaseHTTPMiddleware: it would cost the hot send path a task per
request). The label is the matched route's path template, never the raw path, so ids in URLs do
not explode the number of series.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from tidings.observability.metrics import API_LATENCY


class RequestTiming:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            route: Any = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            API_LATENCY.labels(label).observe(time.perf_counter() - started)
