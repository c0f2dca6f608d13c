"""`SmartRouter.submit` with connectors that only have the coroutine `send` (no `submit` of
their own): each message's outcome reaches its callback exactly once — the route and ids, a
refusal, or, when the chosen route went down under the message, the next route's answer."""

from __future__ import annotations

import asyncio
from typing import Any

from tidings.channels.base import OutboundSms, SmsRouter
from tidings.core.errors import ExpiredBeforeSending, PermanentDeliveryError, TransientDeliveryError
from tidings.core.statuses import Status, status_for_refusal
from tidings.routing.router import SmartRouter

Outcome = tuple[str | None, list[str] | None, BaseException | None]


class SendOnly:
    """A connector with `send` alone; `fail` decides what it raises, once per message."""

    def __init__(self, name: str, fail: BaseException | None = None, *, drops_bind: bool = False) -> None:
        self.name = name
        self.fail = fail
        self.drops_bind = drops_bind
        self.ready = True
        self.sent: list[int] = []

    async def send(self, message: OutboundSms) -> list[str]:
        await asyncio.sleep(0)
        if self.fail is not None:
            if self.drops_bind:
                self.ready = False  # the bind went down while the message was on its way
            raise self.fail
        self.sent.append(message.delivery_id)
        return [f"{self.name}-{message.delivery_id}"]

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


async def outcome_of(router: SmsRouter, delivery_id: int) -> list[Outcome]:
    outcomes: list[Outcome] = []
    router.submit(OutboundSms(delivery_id, "+46700000000", "+46701234567", "hello"),
                  lambda route, ids, error: outcomes.append((route, ids, error)))
    for _ in range(20):
        await asyncio.sleep(0)
    return outcomes


def smart(*connectors: Any) -> SmartRouter:
    return SmartRouter(list(connectors), clock=lambda: 0, seed=1)


async def test_a_send_only_connector_answers_the_callback() -> None:
    assert await outcome_of(smart(SendOnly("a")), 7) == [("a", ["a-7"], None)]


async def test_a_refusal_reaches_the_callback_and_counts_against_the_route() -> None:
    refused = PermanentDeliveryError("no such number", 409)
    router = smart(SendOnly("a", refused))
    [(route, ids, error)] = await outcome_of(router, 7)
    assert (route, ids, error) == (None, None, refused)
    assert [cell.failed for cell in router.stats.own().values()] == [1.0]


async def test_an_expiry_while_waiting_for_the_route_expires_the_message_and_is_not_held_against_it() -> None:
    expired = ExpiredBeforeSending("expire_at passed while the message waited for the throughput cap")
    router = smart(SendOnly("a", expired))
    [(route, ids, error)] = await outcome_of(router, 7)
    assert (route, ids, error) == (None, None, expired)
    assert status_for_refusal(expired.code) is Status.EXPIRED
    assert [cell.failed for cell in router.stats.own().values()] == []


async def test_a_route_that_goes_down_under_the_message_fails_over_to_the_next() -> None:
    down, spare = SendOnly("a", TransientDeliveryError("connection lost"), drops_bind=True), SendOnly("b")
    router = smart(down, spare)  # configured order: "a" first
    assert await outcome_of(router, 7) == [("b", ["b-7"], None)]
    assert not down.ready and spare.sent == [7]


async def test_a_throttled_route_that_stays_bound_keeps_the_message() -> None:
    throttled = TransientDeliveryError("throttled", retry_after=1.0)
    spare = SendOnly("b")
    router = smart(SendOnly("a", throttled), spare)
    [(route, ids, error)] = await outcome_of(router, 7)
    assert error is throttled and route is None and spare.sent == []


async def test_the_plain_router_submits_through_its_first_bound_connector() -> None:
    first, second = SendOnly("a"), SendOnly("b")
    first.ready = False
    assert await outcome_of(SmsRouter([first, second]), 3) == [("b", ["b-3"], None)]
