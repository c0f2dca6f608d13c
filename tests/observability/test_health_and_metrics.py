"""`/health` answers after a database round trip; `/metrics` counts what the pipeline did and
times requests by route template."""

from __future__ import annotations

import asyncio
import re

import httpx

from tidings.testing.platform import Platform


def sample(text: str, name: str, labels: str) -> float:
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


async def test_health(platform: Platform, http: httpx.AsyncClient) -> None:
    response = await http.get(f"{platform.base_url}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_metrics_follow_a_message_to_delivery(platform: Platform, http: httpx.AsyncClient) -> None:
    async def scrape() -> str:
        return (await http.get(f"{platform.base_url}/metrics")).text

    before = await scrape()
    batch = await platform.send(http, to=["+46701234999"], body="count me", **{"from": "+46700000000"})
    await platform.sandbox.wait_for_messages("+46701234999", 1)
    route = 'route="/xms/v1/{path_id}/batches"'
    for _ in range(200):
        after = await scrape()
        if sample(after, "tidings_messages_delivered_total", 'channel="sms"') > sample(
                before, "tidings_messages_delivered_total", 'channel="sms"'):
            break
        await asyncio.sleep(0.05)
    assert batch["id"]
    for name, labels in (("tidings_messages_accepted_total", 'channel="sms"'),
                         ("tidings_messages_sent_total", 'channel="sms"'),
                         ("tidings_messages_delivered_total", 'channel="sms"'),
                         ("tidings_delivery_seconds_count", 'channel="sms"'),
                         ("tidings_api_request_seconds_count", route)):
        assert sample(after, name, labels) >= sample(before, name, labels) + 1, name
