"""A batch's `from_ton` and `from_npi` reach the carrier: the sender goes out with the type of
number and numbering plan the caller set, not the ones detected from its digits. Through the
XMS API and the official SDK, in both profiles, to the sandbox handset (which shows a national
number as written and an international one with its '+')."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tidings.api.testing import sdk_client
from tidings.testing.platform import Platform

from .helpers import wait_handset, wait_status, wait_until

NATIONAL = "0701234567"


async def test_a_national_sender_goes_out_as_national(platform: Platform, http: httpx.AsyncClient) -> None:
    national = await platform.send(http, to=["+46701970101"], body="from a national number", from_ton=2,
                                   from_npi=1, **{"from": NATIONAL})
    assert (national["from_ton"], national["from_npi"]) == (2, 1)
    detected = await platform.send(http, to=["+46701970102"], body="type detected", **{"from": NATIONAL})
    assert "from_ton" not in detected and "from_npi" not in detected
    await wait_status(platform, http, national["id"], "+46701970101", "Delivered")
    await wait_status(platform, http, detected["id"], "+46701970102", "Delivered")
    [as_set] = await wait_handset(platform, http, "+46701970101")
    [as_detected] = await wait_handset(platform, http, "+46701970102")
    assert as_set["from"] == NATIONAL
    assert as_detected["from"] == "+" + NATIONAL  # ten digits: read as international without the override

    # The handset's reply to the national number comes back to it, to the project that sent from it.
    reply = await http.post(f"{platform.base_url}/sandbox/v1/handsets/46701970101/messages",
                            json={"to": NATIONAL, "body": "thanks"})
    assert reply.status_code in (200, 201, 202), reply.text

    async def inbound() -> list[dict[str, Any]]:
        page = (await http.get(platform.xms("/inbounds"), headers=platform.auth)).json()
        return [i for i in page["inbounds"] if i["body"] == "thanks"]

    [received] = await wait_until(inbound, "the reply as an inbound")
    assert (received["from"], received["to"]) == ("+46701970101", NATIONAL)


async def test_update_and_replace_change_the_sender_type(platform: Platform, http: httpx.AsyncClient) -> None:
    batch = await platform.send(http, to=["+46701970103"], body="later", send_at="2099-01-01T00:00:00Z",
                                from_ton=2, **{"from": NATIONAL})
    url = platform.xms(f"/batches/{batch['id']}")
    updated = await http.post(url, headers=platform.auth, json={"from_ton": 0, "from_npi": 1})
    assert updated.status_code == 200, updated.text
    assert (updated.json()["from_ton"], updated.json()["from_npi"]) == (0, 1)
    replaced = await http.put(url, headers=platform.auth, json={
        "to": ["+46701970103"], "from": "+46700000000", "body": "replaced", "send_at": "2099-01-01T00:00:00Z"})
    assert replaced.status_code == 200, replaced.text
    assert "from_ton" not in replaced.json()  # a replace is a new batch: detected again
    got = await http.get(url, headers=platform.auth)
    assert got.json() == replaced.json()


async def test_an_out_of_range_type_is_refused_and_nothing_is_written(platform: Platform,
                                                                      http: httpx.AsyncClient) -> None:
    for field, value in (("from_ton", 7), ("from_npi", 19), ("from_ton", "2")):
        response = await http.post(platform.xms("/batches"), headers=platform.auth, json={
            "to": ["+46701970104"], "from": NATIONAL, "body": "x", field: value})
        assert response.status_code == 400, response.text
        assert response.json()["code"] in {"syntax_constraint_violation", "syntax_invalid_parameter_format"}
        assert field in response.json()["text"]
    listed = await http.get(platform.xms("/batches"), headers=platform.auth)
    assert listed.json()["count"] == 0


async def test_the_sdk_sends_with_a_sender_type(platform: Platform, http: httpx.AsyncClient) -> None:
    client = sdk_client("service_plan", platform.base_url, platform.creds)
    sent: Any = await asyncio.to_thread(client.sms.batches.send_sms, to=["+46701970105"], from_=NATIONAL,
                                        body="through the SDK", from_ton=2, from_npi=1)
    assert (sent.from_ton, sent.from_npi) == (2, 1)
    await wait_status(platform, http, sent.id, "+46701970105", "Delivered")
    [message] = await wait_handset(platform, http, "+46701970105")
    assert message["from"] == NATIONAL
