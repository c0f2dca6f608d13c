"""A batch sent without `from` (Sinch's automatic default originator), in both profiles: each
recipient's message goes out from the project's default sender for its country (the sender
policy's `defaults`); a recipient whose country has none is Aborted with code 410 and the rest
are sent. Through the XMS API and the official SDK, to the sandbox handsets."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tidings.api.testing import sdk_client
from tidings.testing.platform import Platform

from .helpers import handset_messages, wait_handset, wait_status
from .test_routing_senders import api, token

SE = "+46701970201"
SE_2 = "+46701970202"
US = "+14155552681"
SE_DEFAULT = "+46700000099"


async def set_defaults(platform: Platform, http: httpx.AsyncClient, mode: str, defaults: dict[str, str]) -> None:
    r = await http.put(api(platform, "/sender_policy"), headers=await token(platform, http),
                       json={"mode": mode, "defaults": defaults})
    assert r.status_code == 200, r.text


async def test_each_recipient_goes_out_from_its_countrys_default_the_rest_is_aborted_410(
        platform: Platform, http: httpx.AsyncClient) -> None:
    await set_defaults(platform, http, "off", {"SE": SE_DEFAULT})
    sent = await platform.send(http, to=[SE, US], body="no from given", delivery_report="per_recipient")
    assert "from" not in sent and sent["to"] == [SE, US]

    await wait_status(platform, http, sent["id"], SE, "Delivered")
    [message] = await wait_handset(platform, http, SE)
    assert (message["from"], message["body"]) == (SE_DEFAULT, "no from given")
    aborted = await wait_status(platform, http, sent["id"], US, "Aborted")
    assert aborted["code"] == 410
    assert await handset_messages(platform, http, US) == []

    summary = (await http.get(platform.xms(f"/batches/{sent['id']}/delivery_report"), headers=platform.auth,
                              params={"type": "full"})).json()
    assert sorted((s["status"], s["code"], s["recipients"]) for s in summary["statuses"]) == [
        ("Aborted", 410, [US]), ("Delivered", 0, [SE])]
    fetched = (await http.get(platform.xms(f"/batches/{sent['id']}"), headers=platform.auth)).json()
    assert "from" not in fetched


async def test_the_sdk_sends_without_a_sender(platform: Platform, http: httpx.AsyncClient) -> None:
    await set_defaults(platform, http, "off", {"SE": SE_DEFAULT})
    client = sdk_client("project", platform.base_url, platform.creds)
    sent: Any = await asyncio.to_thread(client.sms.batches.send, to=[SE_2], body="through the SDK")
    assert sent.from_ is None
    await wait_status(platform, http, sent.id, SE_2, "Delivered")
    [message] = await wait_handset(platform, http, SE_2)
    assert message["from"] == SE_DEFAULT


async def test_a_default_originator_is_held_to_the_sender_policy(platform: Platform, http: httpx.AsyncClient) -> None:
    # An alphanumeric default towards the US, under `reject`: Rejected 491 like any such sender.
    await set_defaults(platform, http, "reject", {"US": "Shop"})
    sent = await platform.send(http, to=[US], body="no from, alphanumeric default")
    rejected = await wait_status(platform, http, sent["id"], US, "Rejected")
    assert rejected["code"] == 491
    assert await handset_messages(platform, http, US) == []
