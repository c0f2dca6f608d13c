"""`serve_app`: a uvicorn server in the caller's event loop."""

from __future__ import annotations

import signal

import httpx
from starlette.applications import Starlette

from tidings.api.testing import serve_app


async def test_serve_app_leaves_the_signal_handlers_alone() -> None:
    handled = (signal.SIGINT, signal.SIGTERM)
    before = {sig: signal.getsignal(sig) for sig in handled}
    async with serve_app(Starlette()) as base_url:
        during = {sig: signal.getsignal(sig) for sig in handled}
        async with httpx.AsyncClient() as http:
            r = await http.get(base_url)
    assert r.status_code == 404  # served: the app has no routes
    assert during == before
    assert {sig: signal.getsignal(sig) for sig in handled} == before
