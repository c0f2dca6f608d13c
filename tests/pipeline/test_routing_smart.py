"""Smart SMS routing end to end, in both profiles: two sandbox SMSCs of one network ("cheap" and
"premium", each its own SMPP route with a price table) behind the platform; the built-in sandbox
connection is disabled for routing.

- the cheaper route carries the traffic while it is healthy (apart from a small exploration share);
- when its delivery rate collapses (failure_rate 0.9 on that SMSC) traffic moves to the other route
  within a few dozen messages;
- when it disconnects, traffic fails over at once and nothing is lost;
- dry runs estimate a price per recipient; every delivery records its cost, shown in its report.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from sqlalchemy import select

from tidings.config import SmppConnectionSettings
from tidings.runtime.embedded import SANDBOX_PASSWORD, SANDBOX_SYSTEM_ID
from tidings.sandbox.world import Sandbox
from tidings.store import schema
from tidings.store.routing_schema import delivery_costs
from tidings.testing.platform import Platform

from .helpers import FROM, dry_run, recipient_report, wait_until

CHEAP, PREMIUM = 0.01, 0.03


def route(name: str, port: int, price: float) -> SmppConnectionSettings:
    return SmppConnectionSettings(name=name, host="127.0.0.1", port=port, system_id=SANDBOX_SYSTEM_ID,
                                  password=SANDBOX_PASSWORD, priority=0, prices={"": price, "+1": price * 2})


FAST = (5, 20)


@contextlib.asynccontextmanager
async def two_routes(platform_factory: Any) -> AsyncIterator[tuple[Platform, Sandbox, Sandbox]]:
    premium = Sandbox(seed=21)
    premium.add_account(SANDBOX_SYSTEM_ID, SANDBOX_PASSWORD)
    cheap = premium.add_smsc("cheap", seed=22)  # the same network: one handsets registry
    for smsc in (premium, cheap):  # quick carriers: the tests send one message after another
        smsc.set_rule("", latency_ms=FAST)
    await premium.start()
    try:
        connections = (route("cheap", cheap.port, CHEAP), route("premium", premium.port, PREMIUM))
        async with platform_factory(extra_connections=connections, connection={"enabled": False}) as platform:
            # Both routes bound before the first send: one still binding would be failed over
            # from, and the share each route gets would say nothing about route choice.
            async def bound() -> bool:
                return cheap.binds > 0 and premium.binds > 0

            await wait_until(bound, "both routes to be bound")
            yield platform, cheap, premium
    finally:
        await premium.stop()


async def route_of(platform: Platform, batch_id: str) -> str | None:
    d = schema.deliveries
    async with platform.ctx.db.read() as conn:
        return (await conn.execute(select(d.c.connection).where(d.c.batch_id == batch_id))).scalar()


async def send_settled(platform: Platform, http: httpx.AsyncClient, recipient: str, body: str) -> tuple[str, dict[str, Any]]:
    """Send one message and wait for its final status; returns (route, report)."""
    batch = await platform.send(http, to=[recipient], body=body, **{"from": FROM})

    async def final() -> dict[str, Any] | None:
        report = await recipient_report(platform, http, batch["id"], recipient)
        return report if report["status"] in ("Delivered", "Failed") else None

    try:
        report = await wait_until(final, f"{body} to settle", timeout=15.0, interval=0.02)
    except AssertionError as exc:
        last = await recipient_report(platform, http, batch["id"], recipient)
        raise AssertionError(f"{exc}: {last} via {await route_of(platform, batch['id'])}") from None
    connection = await route_of(platform, batch["id"])
    assert connection is not None
    return connection, report


async def test_cheap_route_preferred_then_abandoned_when_its_delivery_rate_collapses(
    platform_factory: Any, http: httpx.AsyncClient,
) -> None:
    async with two_routes(platform_factory) as (platform, cheap, premium):
        healthy = [await send_settled(platform, http, f"+4670193{i:04d}", f"healthy {i}") for i in range(20)]
        assert sum(1 for r, _ in healthy if r == "cheap") >= 15, [r for r, _ in healthy]  # exploration ~5%
        assert all(report["status"] == "Delivered" for _, report in healthy)

        cheap.set_rule("", failure_rate=0.9, latency_ms=FAST)
        routes = []
        for i in range(60):
            connection, _ = await send_settled(platform, http, f"+4670194{i:04d}", f"degraded {i}")
            routes.append(connection)
        shifted = next(i for i in range(len(routes)) if routes[i:i + 5] == ["premium"] * 5)
        assert shifted <= 40, routes
        tail = routes[-15:]
        assert tail.count("premium") >= 12, routes  # cheap only gets the exploration share now


async def test_route_disconnect_fails_over_with_nothing_lost(platform_factory: Any, http: httpx.AsyncClient) -> None:
    async with two_routes(platform_factory) as (platform, cheap, premium):
        first, _ = await send_settled(platform, http, "+46701950000", "before")
        port = cheap.port
        await cheap.stop()
        handset = "+46701950001"
        bodies = [f"while cheap is down {i}" for i in range(10)]
        batches = [await platform.send(http, to=[handset], body=b, **{"from": FROM}) for b in bodies]
        messages = await premium.wait_for_messages(handset, len(bodies), timeout=15.0)
        assert sorted(m.body for m in messages) == sorted(bodies)  # each exactly once
        for batch in batches:  # on the handset before the writer records the answer: wait for it
            assert await wait_until(lambda: route_of(platform, batch["id"]), "the route to be recorded") == "premium"
        await cheap.start(port=port)

        attempts = iter(range(1000))

        async def back() -> bool:  # distinct bodies: identical ones within a window collapse
            connection, _ = await send_settled(platform, http, "+46701950002", f"after {next(attempts)}")
            return connection == "cheap"

        await wait_until(back, "traffic back on the cheap route", timeout=15.0, interval=0.2)


async def test_price_in_dry_run_and_cost_recorded(platform_factory: Any, http: httpx.AsyncClient) -> None:
    async with two_routes(platform_factory) as (platform, cheap, premium):
        long_body = "x" * 200  # two parts
        result = await dry_run(platform, http, to=["+46701960000", "+12025550123"], body=long_body,
                               **{"from": FROM})
        prices = {r["recipient"]: r["price"] for r in result["per_recipient"]}
        assert prices["+46701960000"] == {"amount": 0.02, "currency": "EUR"}
        assert prices["+12025550123"] == {"amount": 0.04, "currency": "EUR"}

        connection, report = await send_settled(platform, http, "+46701960000", long_body)
        expected = {"cheap": CHEAP, "premium": PREMIUM}[connection] * 2
        assert report["cost"] == {"amount": expected, "currency": "EUR", "route": connection}
        async with platform.ctx.db.read() as conn:
            rows = list(await conn.execute(select(delivery_costs)))
        assert [(r.route, r.amount, r.parts) for r in rows] == [(connection, expected, 2)]
