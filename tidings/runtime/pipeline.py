"""The worker side of a profile: connectors, outcome writer, dispatch workers, sweeper, webhooks,
and the Conversation API's engine with its channel connectors.

The embedded profile runs it inside `tidings serve`; the distributed profile runs it in each
`tidings worker` process. It does not know which: the context brings the queue and database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

import httpx

from tidings.config import SmppConnectionSettings
from tidings.observability.metrics import count_transitions
from tidings.queue.base import CONVERSATIONS, WEBHOOKS, Limiter
from tidings.routing.persist import StatsSharer
from tidings.routing.prices import RouteOptions
from tidings.routing.router import SmartRouter
from tidings.runtime.context import Context
from tidings.tasks import cancel_and_wait
from tidings.webhooks.sender import WebhookSender
from tidings.webhooks.wake import EnqueueWatch
from tidings.workers.dispatch import DispatchWorker
from tidings.workers.sweeper import Sweeper
from tidings.workers.writer import OutcomeWriter

log = logging.getLogger(__name__)


def route_options(connections: Sequence[SmppConnectionSettings]) -> list[RouteOptions]:
    """Each connection's routing options (priority, enabled, price table) from its settings."""
    return [RouteOptions.of(c.name, i, priority=c.priority, enabled=c.enabled, prices=c.prices,
                            currency=c.currency) for i, c in enumerate(connections)]


class Pipeline:
    def __init__(
        self,
        ctx: Context,
        connections: Sequence[SmppConnectionSettings],
        *,
        limiter_for: dict[str, Limiter] | None = None,
        webhook_timeout: float = 10.0,
    ) -> None:
        from tidings.channels.sms_smpp.connector import SmppConnector

        self.ctx = ctx
        self.writer = OutcomeWriter(ctx.db, ctx.clock, max_group_members=ctx.settings.max_recipients)
        self.writer.on_transitions.append(count_transitions)
        limiters = limiter_for or {}
        self.router = SmartRouter(
            [SmppConnector(c, self.writer, ctx.clock, limiter=limiters.get(c.name)) for c in connections],
            route_options(connections), clock=ctx.clock, sharer=StatsSharer(ctx.db),
        )
        self.writer.on_transitions.append(self.router.observe)  # live route quality from receipts
        ctx.sms_routes = self.router.options  # price estimates (dry runs) in this process
        self.dispatcher = DispatchWorker(ctx, self.router, self.writer)
        self.sweeper = Sweeper(ctx, self.writer, stale_every=ctx.settings.sweep_stale_seconds)
        self._http = httpx.AsyncClient(timeout=webhook_timeout)
        self.webhooks = WebhookSender(ctx.db, self._http, clock=ctx.clock, timeout=webhook_timeout,
                                      lease_seconds=max(60.0, webhook_timeout * 3),
                                      max_age_seconds=ctx.settings.webhook_max_age_seconds,
                                      base_delay=ctx.settings.webhook_retry_base_seconds,
                                      poll_interval=ctx.settings.webhook_poll_seconds)
        # Rows this process enqueues wake the sender once committed (the outcome writer's reports
        # and MO, the conversation engine's callbacks and, in `tidings serve`, the API's).
        self._webhooks_enqueued = EnqueueWatch(self.webhooks.wake)
        ctx.db.after_write.append(self._webhooks_enqueued)
        from tidings.conversations.service import ConversationWorker

        self.conversations = ConversationWorker(ctx)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._listening: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.ctx.committer.start()
        self.writer.start()
        await self.router.start()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self.dispatcher.run(self._stop), name="dispatch"),
            loop.create_task(self.sweeper.run(self._stop), name="sweeper"),
            loop.create_task(self.webhooks.run_forever(self._stop), name="webhooks"),
        ]
        # What other processes (an API process of the distributed profile) announce they committed.
        self._listening = loop.create_task(self.ctx.dispatch.listen({
            WEBHOOKS: self.webhooks.wake,
            CONVERSATIONS: lambda: self.ctx.conversation_work(),
        }), name="announcements")
        await self.conversations.start()

    async def stop(self, before_unbind: Callable[[], Awaitable[object]] | None = None) -> None:
        """Stop the workers (the dispatcher's sent messages answered), then `before_unbind` (the
        embedded sandbox delivering its receipts), then unbind and drain the writer."""
        self._stop.set()
        with contextlib.suppress(ValueError):
            self.ctx.db.after_write.remove(self._webhooks_enqueued)
        await cancel_and_wait(self._listening)
        self._listening = None
        await self.conversations.stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if before_unbind is not None:
            await before_unbind()
        await self.router.aclose()
        await self.writer.aclose()
        await self._http.aclose()
