"""Bodies over the cap are refused with 413 in the XMS error format, nothing written, whether
the client declares its length or streams it chunked."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from sqlalchemy import func, select

from tidings.api.body import DEFAULT_LIMIT
from tidings.api.testing import ApiServer
from tidings.store.schema import batches


async def test_oversized_bodies_are_refused(api: ApiServer) -> None:
    creds = await api.project()
    url = api.xms_url(creds.service_plan_id, "/batches")
    headers = {"Authorization": f"Bearer {creds.api_token}", "Content-Type": "application/json"}
    big = b'{"to": ["+46701234567"], "from": "+46700000000", "body": "' + b"x" * DEFAULT_LIMIT + b'"}'

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 65536):
            yield big[start:start + 65536]

    async with httpx.AsyncClient() as http:
        declared = await http.post(url, content=big, headers=headers)
        streamed = await http.post(url, content=chunked(), headers=headers)
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["code"] == "request_too_large"
    async with api.ctx.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(batches))).scalar_one() == 0
