"""End to end, in both profiles: the XMS API accepts, the dispatcher submits over SMPP to the
sandbox SMSC, the handset receives, the receipt moves the status, a signed webhook arrives."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tidings.testing.platform import Platform


async def wait_status(platform: Platform, http: httpx.AsyncClient, batch_id: str, recipient: str,
                      status: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await http.get(platform.xms(f"/batches/{batch_id}/delivery_report/{recipient}"),
                                  headers=platform.auth)
        if response.status_code == 200 and response.json()["status"] == status:
            return response.json()  # type: ignore[no-any-return]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{recipient} never reached {status}: {response.text}")
        await asyncio.sleep(0.05)


async def test_sms_reaches_the_handset_and_is_reported_delivered(platform: Platform, http: httpx.AsyncClient) -> None:
    batch = await platform.send(http, to=["+46701234501"], body="Hello from Tidings", **{"from": "+46700000000"})
    messages = await platform.sandbox.wait_for_messages("+46701234501", 1)
    assert messages[0].body == "Hello from Tidings"
    report = await wait_status(platform, http, batch["id"], "+46701234501", "Delivered")
    assert report["code"] == 0
