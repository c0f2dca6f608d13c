"""Messenger end to end, in both profiles: the Conversation API, the engine and the real
connector against the sandbox twin; the person writes first (opening the window), gets quick
replies, taps one; statuses arrive through Messenger's watermarks; a person who never wrote is
skipped for SMS."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sinch.domains.conversation.sinch_events.v1 import ConversationSinchEvent

from tidings.testing.platform import Platform
from tidings.webhooks.testing import WebhookReceiver

PAGE_ID = "104599990000001"
HOOK_SECRET = "conversation-hook-secret"
MESSENGER = {"channel": "MESSENGER", "static_token": {"token": "EAAGe2e", "claimed_identity": PAGE_ID},
             "callback_secret": "meta-e2e-secret"}
CHOICE = {"choice_message": {"text_message": {"text": "Which size?"}, "choices": [
    {"text_message": {"text": "Small"}, "postback_data": "size:S"},
    {"text_message": {"text": "Large"}, "postback_data": "size:L"}]}}


class Api:
    def __init__(self, platform: Platform, http: httpx.AsyncClient, token: str) -> None:
        self.platform, self.http, self.token = platform, http, token

    def url(self, path: str) -> str:
        return f"{self.platform.base_url}/v1/projects/{self.platform.creds.project_id}{path}"

    async def post(self, path: str, body: Any) -> Any:
        r = await self.http.post(self.url(path), json=body, headers={"Authorization": f"Bearer {self.token}"})
        assert r.status_code == 200, r.text
        return r.json()

    async def get(self, path: str) -> Any:
        r = await self.http.get(self.url(path), headers={"Authorization": f"Bearer {self.token}"})
        assert r.status_code == 200, r.text
        return r.json()

    async def wait_status(self, message_id: str, statuses: tuple[str, ...], timeout: float = 15.0) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                body = await self.get(f"/messages/{message_id}")
                if body["delivery"]["status"] in statuses:
                    return body
                await asyncio.sleep(0.05)


async def _api(platform: Platform, http: httpx.AsyncClient) -> Api:
    r = await http.post(f"{platform.base_url}/oauth2/token", auth=(platform.creds.key_id, platform.creds.key_secret),
                        data={"grant_type": "client_credentials"})
    assert r.status_code == 200, r.text
    return Api(platform, http, r.json()["access_token"])


async def _app(api: Api, hook_url: str) -> str:
    sms = {"channel": "SMS", "static_bearer": {"claimed_identity": api.platform.creds.service_plan_id,
                                               "token": "x", "sender": "+46700000099"}}
    app_id = str((await api.post("/apps", {"display_name": "messenger e2e",
                                           "channel_credentials": [MESSENGER, sms]}))["id"])
    await api.post(f"/apps/{app_id}/webhooks", {"target": hook_url, "secret": HOOK_SECRET,
                                                "triggers": ["MESSAGE_DELIVERY", "MESSAGE_INBOUND"]})
    return app_id


def _events(hooks: WebhookReceiver) -> list[Any]:
    handler = ConversationSinchEvent(HOOK_SECRET)
    out = []
    for request in hooks.requests:
        assert handler.validate_authentication_header(request.headers, request.body)
        out.append(handler.parse_event(request.body, request.headers))
    return out


async def _wait_event(hooks: WebhookReceiver, test: Any, timeout: float = 15.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            found = [e for e in _events(hooks) if test(e)]
            if found:
                return found[0]
            await asyncio.sleep(0.05)


async def test_reply_in_window_quick_reply_tap_and_read(platform: Platform, http: httpx.AsyncClient) -> None:
    hooks = WebhookReceiver("/conversation")
    await hooks.start()
    try:
        api = await _api(platform, http)
        app_id = await _app(api, hooks.url)
        twin = platform.sandbox.platforms["MESSENGER"]
        async with asyncio.timeout(15):  # the engine registers the app's webhook with the page
            while not (PAGE_ID in twin.pages and twin.pages[PAGE_ID].webhook_url):
                await asyncio.sleep(0.05)
        handset = platform.sandbox.handset("+46701238001")
        handset.capabilities = ["SMS", "MESSENGER"]
        psid = handset.identity("MESSENGER")
        r = await http.post(f"{platform.base_url}/sandbox/v1/handsets/+46701238001/messages",
                            json={"channel": "MESSENGER", "to": PAGE_ID, "body": "Do you have shoes?"})
        assert r.status_code == 202, r.text
        first = await _wait_event(hooks, lambda e: getattr(e, "message", None) is not None)
        assert first.message.contact_message.text_message.text == "Do you have shoes?"
        assert first.message.channel_identity.identity == psid
        sent = await api.post("/messages:send", {
            "app_id": app_id, "message": CHOICE, "channel_priority_order": ["MESSENGER"],
            "recipient": {"identified_by": {"channel_identities": [{"channel": "MESSENGER", "identity": psid}]}}})
        message = await api.wait_status(sent["message_id"], ("READ",))
        assert [(a["channel"], a["state"]) for a in message["delivery"]["attempts"]] == [("MESSENGER", "READ")]
        [received] = await platform.sandbox.wait_for_messages("+46701238001", 1, timeout=10)
        assert received.channel == "MESSENGER" and received.body == "Which size?\n(Small | Large)"
        r = await http.post(f"{platform.base_url}/sandbox/v1/handsets/+46701238001/messages",
                            json={"channel": "MESSENGER", "to": PAGE_ID, "postback": "size:L"})
        assert r.status_code == 202, r.text
        tap = await _wait_event(hooks, lambda e: getattr(e, "message", None) is not None
                                and getattr(e.message.contact_message, "choice_response_message", None) is not None)
        choice = tap.message.contact_message.choice_response_message
        assert choice.postback_data == "size:L" and choice.message_id == sent["message_id"]
        reports = [e.message_delivery_report.status for e in _events(hooks)
                   if getattr(e, "message_delivery_report", None) is not None
                   and e.message_delivery_report.message_id == sent["message_id"]]
        assert reports[-1] == "READ" and "DELIVERED" in reports
    finally:
        await hooks.stop()


async def test_person_who_never_wrote_falls_back_to_sms(platform: Platform, http: httpx.AsyncClient) -> None:
    hooks = WebhookReceiver("/conversation")
    await hooks.start()
    try:
        api = await _api(platform, http)
        app_id = await _app(api, hooks.url)
        handset = platform.sandbox.handset("+46701238002")
        handset.capabilities = ["SMS", "MESSENGER"]
        sent = await api.post("/messages:send", {
            "app_id": app_id, "message": {"text_message": {"text": "Your order shipped"}},
            "channel_priority_order": ["MESSENGER", "SMS"],
            "recipient": {"identified_by": {"channel_identities": [
                {"channel": "MESSENGER", "identity": handset.identity("MESSENGER")},
                {"channel": "SMS", "identity": "+46701238002"}]}}})
        message = await api.wait_status(sent["message_id"], ("DELIVERED",))
        attempts = [(a["channel"], a["state"]) for a in message["delivery"]["attempts"]]
        assert attempts == [("MESSENGER", "SKIPPED"), ("SMS", "DELIVERED")]
        [received] = await platform.sandbox.wait_for_messages("+46701238002", 1, timeout=10)
        assert received.channel == "SMS" and received.body == "Your order shipped"
    finally:
        await hooks.stop()
