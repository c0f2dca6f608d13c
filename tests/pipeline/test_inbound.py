"""Mobile-originated messages end to end, in both profiles: a sandbox handset replies through the
sandbox REST API, the SMSC delivers it over SMPP (in parts when long), it is stored for the
project that sent from that number, listed and fetched through XMS inbounds, and POSTed as a
signed `mo_text` callback to the service plan's callback URL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sinch.domains.sms.models.v1.shared.mo_text_message import MOTextMessage

from tidings.testing.platform import Platform
from tidings.webhooks.testing import WebhookReceiver

from .helpers import parse_signed, set_plan_callback, wait_handset, wait_until

LONG_UNICODE = "Tack för meddelandet! Jag kommer kl 8 🚲 — hälsningar från Åsa. " * 4
REPLIES = {
    "short": "STOP",
    "long-gsm": "Yes please, book me in for Tuesday at 10:00 {room 4} [confirmed] ~ thanks. " * 3,
    "long-unicode": LONG_UNICODE,
}


async def handset_replies(platform: Platform, http: httpx.AsyncClient, handset: str, to: str, body: str) -> str:
    response = await http.post(f"{platform.base_url}/sandbox/v1/handsets/{handset.lstrip('+')}/messages",
                               json={"to": to, "body": body})
    assert response.status_code == 202, response.text
    return response.json()["message_id"]  # type: ignore[no-any-return]


async def inbounds(platform: Platform, http: httpx.AsyncClient, service_plan_id: str, token: str,
                   **params: Any) -> dict[str, Any]:
    response = await http.get(f"{platform.base_url}/xms/v1/{service_plan_id}/inbounds", params=params,
                              headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("reply", list(REPLIES))
async def test_reply_reaches_the_sending_project_as_inbound_and_signed_webhook(
    platform: Platform, http: httpx.AsyncClient, reply: str,
) -> None:
    body = REPLIES[reply]
    ours, theirs = "+46700001001", "+46700001002"
    handset = "+46701310001"
    receiver = WebhookReceiver("/hooks/mo")
    await receiver.start()
    try:
        await set_plan_callback(platform, receiver.url)
        other = await platform.project("other")
        # Each project writes to the handset from its own number.
        await platform.send(http, to=[handset], body="Reply YES to book", **{"from": ours})
        sent = await http.post(f"{platform.base_url}/xms/v1/{other.service_plan_id}/batches",
                               json={"to": [handset], "from": theirs, "body": "Other project"},
                               headers={"Authorization": f"Bearer {other.api_token}"})
        assert sent.status_code == 201, sent.text
        await wait_handset(platform, http, handset, 2)

        await handset_replies(platform, http, handset, ours, body)

        async def listed() -> dict[str, Any] | None:
            page = await inbounds(platform, http, platform.creds.service_plan_id, platform.creds.api_token)
            return page if page["count"] >= 1 else None

        page = await wait_until(listed, "the inbound in the project's list")
        [inbound] = page["inbounds"]
        assert inbound["type"] == "mo_text"
        assert (inbound["from"], inbound["to"], inbound["body"]) == (handset, ours, body)
        fetched = await http.get(platform.xms(f"/inbounds/{inbound['id']}"), headers=platform.auth)
        assert fetched.status_code == 200
        assert fetched.json() == inbound
        filtered = await inbounds(platform, http, platform.creds.service_plan_id, platform.creds.api_token,
                                  to=theirs)
        assert filtered["count"] == 0

        # The other project neither lists nor fetches it.
        assert (await inbounds(platform, http, other.service_plan_id, other.api_token))["count"] == 0
        foreign = await http.get(f"{platform.base_url}/xms/v1/{other.service_plan_id}/inbounds/{inbound['id']}",
                                 headers={"Authorization": f"Bearer {other.api_token}"})
        assert foreign.status_code == 404

        await receiver.wait_for(1)
        [event] = parse_signed(platform, receiver)
        assert isinstance(event, MOTextMessage)
        assert event.type == "mo_text"
        assert (event.id, event.from_, event.to, event.body) == (inbound["id"], handset, ours, body)
        assert event.received_at is not None
    finally:
        await receiver.stop()


async def test_reply_to_the_other_project_goes_to_it(platform: Platform, http: httpx.AsyncClient) -> None:
    ours, theirs = "+46700001011", "+46700001012"
    handset = "+46701320001"
    other = await platform.project("other")
    await platform.send(http, to=[handset], body="from us", **{"from": ours})
    sent = await http.post(f"{platform.base_url}/xms/v1/{other.service_plan_id}/batches",
                           json={"to": [handset], "from": theirs, "body": "from them"},
                           headers={"Authorization": f"Bearer {other.api_token}"})
    assert sent.status_code == 201
    await wait_handset(platform, http, handset, 2)

    await handset_replies(platform, http, handset, theirs, "Hej 👋 to the other project")

    async def listed() -> dict[str, Any] | None:
        page = await inbounds(platform, http, other.service_plan_id, other.api_token)
        return page if page["count"] >= 1 else None

    page = await wait_until(listed, "the inbound in the other project's list")
    assert page["inbounds"][0]["body"] == "Hej 👋 to the other project"
    assert page["inbounds"][0]["to"] == theirs
    assert (await inbounds(platform, http, platform.creds.service_plan_id, platform.creds.api_token))["count"] == 0


async def test_an_assigned_number_routes_mo_to_its_project_before_and_over_any_send(
        platform: Platform, http: httpx.AsyncClient) -> None:
    """A short code assigned to the other project's plan: a handset's first message to it reaches
    that project though nobody ever sent from it, and keeps doing so after our project sends from
    the same short code (the assignment wins over the last sender)."""
    from tidings.actions.numbers import do_assign_number

    short_code, handset = "72345", "+46701330001"
    other = await platform.project("other")
    assigned = await do_assign_number(platform.ctx.db, short_code, other.service_plan_id)
    assert (assigned.number, assigned.project_id) == (short_code, other.project_id)

    async def count(plan: str, token: str, at_least: int) -> dict[str, Any] | None:
        page = await inbounds(platform, http, plan, token)
        return page if page["count"] >= at_least else None

    await handset_replies(platform, http, handset, short_code, "JOIN please")
    page = await wait_until(lambda: count(other.service_plan_id, other.api_token, 1), "the first MO in the list")
    assert [(i["from"], i["to"], i["body"]) for i in page["inbounds"]] == [(handset, short_code, "JOIN please")]

    await platform.send(http, to=[handset], body="from us on their code", **{"from": short_code})
    await wait_handset(platform, http, handset, 1)
    await handset_replies(platform, http, handset, short_code, "second")
    await wait_until(lambda: count(other.service_plan_id, other.api_token, 2), "the second MO in the list")
    assert (await inbounds(platform, http, platform.creds.service_plan_id, platform.creds.api_token))["count"] == 0
