"""`tidings serve` can run several sandbox SMSCs as routes (TIDINGS_SANDBOX_SMSCS): the router
takes the cheaper healthy one, and the cost is recorded on the delivery."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import select

from tidings.config import parse_sandbox_smscs
from tidings.store.schema import deliveries
from tidings.testing.platform import running_platform

from .helpers import wait_status

ROUTES = '[{"name": "cheap", "prices": {"46": 0.01}}, {"name": "premium", "prices": {"46": 0.03}}]'


async def test_serve_routes_over_the_configured_sandbox_smscs(tmp_path: Path) -> None:
    smscs = parse_sandbox_smscs(ROUTES)
    async with running_platform("embedded", str(tmp_path / "data"), sandbox_smscs=smscs,
                                connection={"enabled": False}) as platform, httpx.AsyncClient() as http:
        assert set(platform.sandbox.smscs) == {"cheap", "premium"}
        price = {"cheap": 0.01, "premium": 0.03}
        routes = []
        for i in range(20):  # 5% of traffic explores the other route to keep its statistics fresh
            number = f"+467019700{i:02d}"
            batch = await platform.send(http, to=[number], body=f"routed {i}", **{"from": "+46700000000"})
            report = await wait_status(platform, http, batch["id"], number, "Delivered")
            async with platform.ctx.db.read() as conn:
                route = (await conn.execute(select(deliveries.c.connection)
                                            .where(deliveries.c.batch_id == batch["id"]))).scalar()
            assert report["cost"] == {"amount": price[route], "currency": "EUR", "route": route}
            routes.append(route)
        assert routes.count("cheap") >= 15, routes
