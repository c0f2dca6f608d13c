"""events:send end to end in both profiles: a composing event reaches a Messenger user as the
typing_on sender action (EVENT_DELIVERY DELIVERED) and RCS as IS_TYPING; on SMS, which cannot
show one, it is answered FAILED with UNSUPPORTED_OPERATION, as Sinch does."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from tests.channels.messenger.test_e2e import PAGE_ID, _api, _app
from tidings.testing.platform import Platform
from tidings.webhooks.testing import WebhookReceiver


async def _report(hooks: WebhookReceiver, event_id: str) -> dict[str, Any]:
    async with asyncio.timeout(15):
        while True:
            for request in hooks.requests:
                body = orjson.loads(request.body)
                report = body.get("event_delivery_report")
                if report and report["event_id"] == event_id:
                    return dict(report)
            await asyncio.sleep(0.05)


async def test_composing_event_on_messenger_and_sms(platform: Platform, http: httpx.AsyncClient) -> None:
    hooks = WebhookReceiver("/events")
    await hooks.start()
    try:
        api = await _api(platform, http)
        app_id = await _app(api, hooks.url)
        await api.post(f"/apps/{app_id}/webhooks", {"target": hooks.url, "triggers": ["EVENT_DELIVERY"]})
        twin = platform.sandbox.platforms["MESSENGER"]
        async with asyncio.timeout(15):  # the engine registers the app's webhook with the page
            while not (PAGE_ID in twin.pages and twin.pages[PAGE_ID].webhook_url):
                await asyncio.sleep(0.05)
        handset = platform.sandbox.handset("+46701238061")
        handset.capabilities = ["SMS", "MESSENGER"]
        psid = handset.identity("MESSENGER")
        r = await http.post(f"{platform.base_url}/sandbox/v1/handsets/+46701238061/messages",
                            json={"channel": "MESSENGER", "to": PAGE_ID, "body": "Hello?"})
        assert r.status_code == 202, r.text
        async with asyncio.timeout(15):  # the inbound is applied: contact and conversation exist
            while not any(b"contact_message" in q.body for q in hooks.requests):
                await asyncio.sleep(0.05)
        recipient = {"identified_by": {"channel_identities": [{"channel": "MESSENGER", "identity": psid}]}}
        sent = await api.post("/events:send", {"app_id": app_id, "event": {"composing_event": {}},
                                               "recipient": recipient, "event_metadata": "m1"})
        report = await _report(hooks, sent["event_id"])
        assert report["status"] == "DELIVERED" and report["metadata"] == "m1"
        assert report["channel_identity"] == {"channel": "MESSENGER", "identity": psid, "app_id": app_id}
        # The person wrote first: the inbound created the contact, the event went to it.
        assert report["contact_id"] and report["conversation_id"]
        sms = await api.post("/events:send", {"app_id": app_id, "event": {"composing_event": {}},
                                              "recipient": {"identified_by": {"channel_identities": [
                                                  {"channel": "SMS", "identity": "+46701238061"}]}}})
        report = await _report(hooks, sms["event_id"])
        assert report["status"] == "FAILED" and report["reason"]["code"] == "UNSUPPORTED_OPERATION"
    finally:
        await hooks.stop()
