"""The connector contract and the SMS router across named connections.

A connector sends one message and says what happened: the provider's message ids, or a
`TransientDeliveryError` (try again later) or `PermanentDeliveryError` (never will). Receipts and
inbound messages come back through the callbacks it was given at construction.

`send` is a coroutine; `submit_to` offers the same without one (a callback gets the outcome), so
a dispatch worker can hand over a claim's messages without a task and a chain of coroutines
for each. A connector with a `submit` method of its own (the SMPP connector) serves it
directly; any other is sent in a task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from tidings.core.errors import TransientDeliveryError


@dataclass(slots=True)
class OutboundSms:
    """One message to one recipient. A binary one (XMS `mt_binary`) has its 8-bit `payload` and
    its user data header `udh` (length octet first, `b""` for none); its `body` is the Base64."""

    delivery_id: int
    sender: str | None
    recipient: str
    body: str
    flash: bool = False
    max_parts: int | None = None
    truncate: bool = False
    priority: bool = False  # served ahead of bulk by the connection's throughput cap
    expire_at_ms: int | None = None  # the batch's expire_at: the carrier stops trying then (validity_period)
    payload: bytes | None = None  # binary: the data to send; None: a text message
    udh: bytes = b""  # binary: the user data header, its length octet first
    sender_ton: int | None = None  # the sender's type of number, when set (XMS from_ton); None: detected
    sender_npi: int | None = None  # its numbering plan, when set (XMS from_npi); None: detected


class SmsConnector(Protocol):
    name: str

    @property
    def ready(self) -> bool: ...

    async def send(self, message: OutboundSms) -> list[str]:
        """Submit every part; returns the SMSC message id of each part, in order."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


SendCallback = Callable[[list[str] | None, BaseException | None], None]
"""Gets a message's outcome from a connector: its parts' ids, or the error in their place."""
RouteCallback = Callable[[str | None, list[str] | None, BaseException | None], None]
"""Gets a message's outcome from a router: the route and its parts' ids, or the error."""

_T = TypeVar("_T")
_running: set[asyncio.Task[Any]] = set()  # the tasks `in_task` started, kept until they finish


def in_task(work: Awaitable[_T], done: Callable[[_T | None, BaseException | None], None]) -> None:
    """Run `work` in a task and hand its result, or its exception, to `done`."""

    async def run() -> _T:
        return await work

    def finished(task: asyncio.Task[_T]) -> None:
        _running.discard(task)
        if task.cancelled():
            done(None, TransientDeliveryError("send cancelled", retry_after=1.0))
        elif (error := task.exception()) is not None:
            done(None, error)
        else:
            done(task.result(), None)

    task = asyncio.get_running_loop().create_task(run())
    _running.add(task)
    task.add_done_callback(finished)


def submit_to(connector: SmsConnector, message: OutboundSms, done: SendCallback) -> None:
    """Send `message` through `connector`; `done` gets the ids or the error."""
    submit = getattr(connector, "submit", None)
    if submit is not None:
        submit(message, done)
    else:
        in_task(connector.send(message), done)


class SmsRouter:
    """Picks the connection for a message: the first bound one in configured order, so a
    disconnected carrier fails over to the next. The pipeline uses its subclass
    `tidings.routing.router.SmartRouter` (price, live quality, failover, exploration)."""

    def __init__(self, connectors: Sequence[SmsConnector]) -> None:
        self.connectors = list(connectors)

    async def send(self, message: OutboundSms) -> tuple[str, list[str]]:
        for connector in self.connectors:
            if connector.ready:
                return connector.name, await connector.send(message)
        raise TransientDeliveryError("no SMS connection is bound", retry_after=1.0)

    def submit(self, message: OutboundSms, done: RouteCallback) -> None:
        """`send` without a coroutine: `done` gets the route and ids, or the error."""

        def sent(result: tuple[str, list[str]] | None, error: BaseException | None) -> None:
            if result is None:
                done(None, None, error)
            else:
                done(result[0], result[1], None)

        in_task(self.send(message), sent)

    def cost_of(self, route: str, recipient: str, parts: int) -> Any:
        """The price of a message on a route (`tidings.routing.prices.Price`); None: unpriced."""
        return None

    def withdraw_unsent(self) -> int:
        """Give back what the connections were handed and have not sent yet (a quick stop: each
        message's callback gets a transient error); connectors without `withdraw_unsent` send
        everything they were handed. Returns how many were taken back."""
        return sum(withdraw() for c in self.connectors if (withdraw := getattr(c, "withdraw_unsent", None)))

    async def start(self) -> None:
        for connector in self.connectors:
            await connector.start()

    async def aclose(self) -> None:
        for connector in self.connectors:
            await connector.aclose()
