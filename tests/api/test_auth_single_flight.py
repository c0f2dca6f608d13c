"""Concurrent requests whose token is not cached share one lookup; a refusal reaches each."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event
from starlette.requests import Request

from tidings.api.auth import authenticate_xms
from tidings.api.testing import ApiServer
from tidings.core.errors import AuthError


def bearer(token: str) -> Request:
    return Request({"type": "http", "headers": [(b"authorization", f"Bearer {token}".encode())]})


async def test_concurrent_misses_share_one_lookup(api: ApiServer) -> None:
    creds = await api.project()
    lookups: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "token_hash" in statement:
            lookups.append(statement)

    engine = api.ctx.db.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        principals = await asyncio.gather(*(
            authenticate_xms(bearer(creds.api_token), api.ctx, creds.service_plan_id) for _ in range(32)
        ))
        assert len(lookups) == 1
        assert {p.service_plan_id for p in principals} == {creds.service_plan_id}
        assert {p.project_id for p in principals} == {creds.project_id}

        results = await asyncio.gather(*(
            authenticate_xms(bearer("not-a-token"), api.ctx, creds.service_plan_id) for _ in range(8)
        ), return_exceptions=True)
        assert all(isinstance(r, AuthError) for r in results)
        assert len(lookups) == 2
        with pytest.raises(AuthError):  # refusals are not cached: looked up again
            await authenticate_xms(bearer("not-a-token"), api.ctx, creds.service_plan_id)
        assert len(lookups) == 3
    finally:
        event.remove(engine, "before_cursor_execute", count)
