"""The connector contract and the SMS router across named connections.

A connector sends one message and says what happened: the provider's message ids, or a
`TransientDeliveryError` (try again later) or `PermanentDeliveryError` (never will). Receipts and
inbound messages come back through the callbacks it was given at construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tidings.core.errors import TransientDeliveryError


@dataclass(slots=True)
class OutboundSms:
    delivery_id: int
    sender: str | None
    recipient: str
    body: str
    flash: bool = False
    max_parts: int | None = None
    truncate: bool = False
    priority: bool = False  # served ahead of bulk by the connection's throughput cap


class SmsConnector(Protocol):
    name: str

    @property
    def ready(self) -> bool: ...

    async def send(self, message: OutboundSms) -> list[str]:
        """Submit every part; returns the SMSC message id of each part, in order."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


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

    def cost_of(self, route: str, recipient: str, parts: int) -> Any:
        """The price of a message on a route (`tidings.routing.prices.Price`); None: unpriced."""
        return None

    async def start(self) -> None:
        for connector in self.connectors:
            await connector.start()

    async def aclose(self) -> None:
        for connector in self.connectors:
            await connector.aclose()
