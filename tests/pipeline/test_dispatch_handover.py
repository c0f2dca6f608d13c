"""The dispatch worker hands a claim's messages to the router without a task each; a router or
connector that fails on one message must not lose it, nor the send slot it held."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tidings.channels.base import OutboundSms, RouteCallback
from tidings.routing.router import SmartRouter
from tidings.testing.platform import Platform

from .helpers import FROM, wait_status

VICTIM, OTHER = "+46701234001", "+46701234002"


@pytest.mark.parametrize("failure", ["raises", "answers with an error"])
async def test_a_message_the_router_fails_on_is_sent_again_later(
    platform: Platform, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    real_submit = SmartRouter.submit
    failed: list[int] = []

    def flaky(self: SmartRouter, message: OutboundSms, done: RouteCallback, tried: Any = None) -> None:
        if message.recipient == VICTIM and not failed:
            failed.append(message.delivery_id)
            if failure == "raises":
                raise RuntimeError("a bug in the router")
            done(None, None, RuntimeError("a bug in a connector"))
            return
        real_submit(self, message, done, tried)

    monkeypatch.setattr(SmartRouter, "submit", flaky)
    batch = await platform.send(http, to=[VICTIM, OTHER], body="Handed over", **{"from": FROM})
    await wait_status(platform, http, batch["id"], OTHER, "Delivered")
    await wait_status(platform, http, batch["id"], VICTIM, "Delivered", timeout=15.0)
    assert len(failed) == 1
