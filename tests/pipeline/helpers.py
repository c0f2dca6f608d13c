"""Shared steps of the end-to-end tests: waiting for statuses and webhooks, reading handsets
through the sandbox REST API, validating callbacks with the official SDK."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sinch import SinchClient
from sqlalchemy import update

from tidings.store import schema
from tidings.testing.platform import Platform
from tidings.webhooks.testing import WebhookReceiver

FROM = "+46700000000"


async def wait_until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 10.0,
                     interval: float = 0.05) -> Any:
    """The first truthy result of `check()`; AssertionError naming `what` after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


async def recipient_report(platform: Platform, http: httpx.AsyncClient, batch_id: str,
                           recipient: str) -> dict[str, Any]:
    response = await http.get(platform.xms(f"/batches/{batch_id}/delivery_report/{recipient}"),
                              headers=platform.auth)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def wait_status(platform: Platform, http: httpx.AsyncClient, batch_id: str, recipient: str,
                      status: str, timeout: float = 10.0) -> dict[str, Any]:
    """The recipient's delivery report once it shows `status`."""
    last: dict[str, Any] = {}

    async def check() -> dict[str, Any] | None:
        last.update(await recipient_report(platform, http, batch_id, recipient))
        return dict(last) if last["status"] == status else None

    try:
        return await wait_until(check, f"{recipient} to reach {status}", timeout)  # type: ignore[no-any-return]
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last report: {last}") from None


async def handset_messages(platform: Platform, http: httpx.AsyncClient, number: str) -> list[dict[str, Any]]:
    """What the handset received, through the sandbox REST API (oldest first)."""
    response = await http.get(f"{platform.base_url}/sandbox/v1/handsets/{number.lstrip('+')}/messages")
    assert response.status_code == 200, response.text
    return response.json()["messages"]  # type: ignore[no-any-return]


async def wait_handset(platform: Platform, http: httpx.AsyncClient, number: str, count: int = 1,
                       timeout: float = 10.0) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        messages = await handset_messages(platform, http, number)
        return messages if len(messages) >= count else None

    return await wait_until(check, f"{count} message(s) on {number}", timeout)  # type: ignore[no-any-return]


def sdk_events(secret: str) -> Any:
    """The official SDK's SMS webhook helper for a project's webhook secret."""
    return SinchClient(key_id="k", key_secret="s", project_id="p").sms.sinch_events(secret)


def parse_signed(platform: Platform, receiver: WebhookReceiver) -> list[Any]:
    """Every request the receiver got, signature checked and parsed by the SDK."""
    events = sdk_events(platform.creds.webhook_secret)
    parsed = []
    for request in receiver.requests:
        assert request.method == "POST"
        assert events.validate_authentication_header(request.headers, request.body), request.headers
        parsed.append(events.parse_event(request.body, request.headers))
    return parsed


async def set_plan_callback(platform: Platform, url: str | None) -> None:
    """The service plan's callback URL. There is no API for it yet, so the column is set."""
    async with platform.ctx.db.write() as conn:
        await conn.execute(
            update(schema.service_plans)
            .where(schema.service_plans.c.id == platform.creds.service_plan_id)
            .values(callback_url=url)
        )


async def dry_run(platform: Platform, http: httpx.AsyncClient, **batch: Any) -> dict[str, Any]:
    response = await http.post(platform.xms("/batches/dry_run?per_recipient=true"), json=batch,
                               headers=platform.auth)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]
