"""A platform with the SMPP gateway running, in both profiles, and ESME customers bound to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tidings.testing.platform import Platform

from ..pipeline.conftest import fresh_postgres_url, http, platform_factory  # noqa: F401 - fixtures
from .esme import Esme


@pytest.fixture
async def platform(platform_factory: Any) -> AsyncIterator[Platform]:  # noqa: F811
    async with platform_factory(smpp_port=0) as p:
        p.gateway.sender.base_delay = 0.1
        yield p


@pytest.fixture
async def esmes(platform: Platform) -> AsyncIterator[Callable[..., Awaitable[Esme]]]:
    """`await esmes(mode="transceiver", system_id=..., password=..., on_deliver=...)`: a bound
    customer, closed at the end of the test."""
    opened: list[Esme] = []

    async def bind(mode: str = "transceiver", system_id: str | None = None, password: str | None = None,
                   on_deliver: Callable[[Any], int | None] | None = None) -> Esme:
        esme = Esme(platform.gateway.port, system_id or platform.creds.smpp_system_id,
                    password or platform.creds.smpp_password)
        # Before the bind: queued deliver_sm may arrive the moment it is accepted.
        esme.on_deliver = on_deliver
        opened.append(esme)
        await esme.bind(mode)
        return esme

    yield bind
    for esme in opened:
        if esme.client._socket is not None:
            await esme.close()
