"""`SmartRouter`: picks the SMS route for each message and learns from what happens to it.

It replaces "first bound connection" with the decision in `tidings.routing.select`: price and
live quality per route x destination, failover when a route is not bound or its delivery rate
collapsed, a small exploration share. Outcomes reach it through `observe` (an `OutcomeWriter`
transition hook): final statuses carry the connection that delivered them, so a receipt counts
for its route on whichever worker it lands; latency is measured on the worker that sent. A
dispatched message without a final status after `receipt_timeout_s` counts as failed. With a
`StatsSharer`, workers exchange their counters through the database every `share_interval_s`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tidings.channels.base import OutboundSms, RouteCallback, SmsConnector, SmsRouter, submit_to
from tidings.core.errors import ExpiredBeforeSending, PermanentDeliveryError, TransientDeliveryError
from tidings.core.statuses import Status
from tidings.routing.prices import Price, RouteOptions, destination_key, price_of
from tidings.routing.select import RoutingSettings, choose
from tidings.routing.stats import RouteStats
from tidings.tasks import cancel_and_wait

if TYPE_CHECKING:
    from tidings.routing.persist import StatsSharer
    from tidings.workers.writer import Transition

__all__ = ["SmartRouter"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Sent:
    route: str
    key: str
    at_ms: int


class SmartRouter(SmsRouter):
    def __init__(
        self,
        connectors: Sequence[SmsConnector],
        options: Sequence[RouteOptions] | None = None,
        *,
        clock: Callable[[], int],
        settings: RoutingSettings | None = None,
        sharer: StatsSharer | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(connectors)
        self.settings = settings or RoutingSettings()
        self.options = list(options) if options is not None else [
            RouteOptions.of(c.name, i) for i, c in enumerate(connectors)
        ]
        self.clock = clock
        self.stats = RouteStats(clock, half_life_s=self.settings.half_life_s, max_weight=self.settings.max_weight)
        self.chosen: Counter[tuple[str, str]] = Counter()  # (route, reason) -> messages
        self._by_name = {c.name: c for c in self.connectors}
        self._rng = random.Random(seed)
        self._pending: dict[int, _Sent] = {}
        self._sharer = sharer
        self._task: asyncio.Task[None] | None = None

    async def send(self, message: OutboundSms) -> tuple[str, list[str]]:
        future: asyncio.Future[tuple[str, list[str]]] = asyncio.get_running_loop().create_future()

        def done(route: str | None, ids: list[str] | None, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result((route, ids))  # type: ignore[arg-type]

        self.submit(message, done)
        return await future

    def submit(self, message: OutboundSms, done: RouteCallback, tried: set[str] | None = None) -> None:
        """Send `message` on the best route; `done` gets the route and the parts' SMSC ids, or
        the error. A route that goes down under the message is left for the next best at once;
        a bound route that throttles keeps it (the message waits for that route's capacity)."""
        tried = set() if tried is None else tried
        ready = {c.name for c in self.connectors if c.ready and c.name not in tried}
        choice = choose(self.options, ready, message.recipient, self.stats, self.settings, self._rng)
        if choice is None:
            done(None, None, TransientDeliveryError("no SMS route is bound", retry_after=1.0))
            return
        connector = self._by_name[choice.route]

        def sent(ids: list[str] | None, error: BaseException | None) -> None:
            if error is None:
                self.chosen[(choice.route, choice.reason)] += 1
                key = destination_key(message.recipient)
                self._pending[message.delivery_id] = _Sent(choice.route, key, self.clock())
                done(choice.route, ids, None)
            elif isinstance(error, PermanentDeliveryError):
                if not isinstance(error, ExpiredBeforeSending):  # the batch's deadline, not the route's fault
                    self.stats.record(choice.route, destination_key(message.recipient), False)
                done(None, None, error)
            elif isinstance(error, TransientDeliveryError) and not connector.ready:
                tried.add(choice.route)  # the route went down under it: fail over now
                self.submit(message, done, tried)
            else:
                done(None, None, error)  # throttled: the message waits for this route's capacity

        submit_to(connector, message, sent)

    def cost_of(self, route: str, recipient: str, parts: int) -> Price | None:
        """What a message of `parts` parts to `recipient` costs on `route`, per its price table."""
        return price_of(self.options, route, recipient, parts)

    def observe(self, transitions: Sequence[Transition]) -> None:
        """Learn from final statuses: Delivered and Failed count for their route."""
        for t in transitions:
            if not t.new.is_final:
                continue
            sent = self._pending.pop(t.delivery_id, None)
            if t.new not in (Status.DELIVERED, Status.FAILED):
                continue
            route = t.connection or (sent.route if sent else None)
            if route is None:
                continue
            delivered = t.new is Status.DELIVERED
            latency = t.at_ms - sent.at_ms if sent is not None and delivered else None
            self.stats.record(route, destination_key(t.recipient), delivered, latency)

    def expire_pending(self) -> int:
        """Count messages still without a final status after the receipt timeout as failed."""
        cutoff = self.clock() - int(self.settings.receipt_timeout_s * 1000)
        expired = [i for i, s in self._pending.items() if s.at_ms < cutoff]
        for delivery_id in expired:
            sent = self._pending.pop(delivery_id)
            self.stats.record(sent.route, sent.key, False)
        return len(expired)

    async def start(self) -> None:
        if self._sharer is not None:
            try:
                await self._sharer.exchange(self.stats)
            except Exception:  # noqa: BLE001 - routing works on local statistics meanwhile
                log.exception("could not read shared route statistics")
        await super().start()
        self._task = asyncio.get_running_loop().create_task(self._maintain(), name="route-stats")

    async def aclose(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        if self._sharer is not None:
            try:
                await self._sharer.exchange(self.stats)
            except Exception:  # noqa: BLE001
                log.exception("could not write route statistics")
        await super().aclose()

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(self.settings.share_interval_s)
            self.expire_pending()
            if self._sharer is not None:
                try:
                    await self._sharer.exchange(self.stats)
                except Exception:  # noqa: BLE001 - try again next round
                    log.exception("route statistics exchange failed")
