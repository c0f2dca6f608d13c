"""Sender IDs end to end, in both profiles: the registry API, and the policy applied at dispatch —
a send from a sender not allowed or not registered in the destination country is Rejected with
its reason code (reports and webhooks), or rewritten to the country's default sender."""

from __future__ import annotations

import asyncio

import httpx

from tidings.testing.platform import Platform

from .helpers import handset_messages, wait_handset, wait_status

US = "+14155552671"
US_2 = "+14155552672"
US_3 = "+14155552673"
SE = "+46701970001"
CAMPAIGN_NUMBER = "+14155550100"
POLICY_CACHE_S = 2.1  # a worker reads a project's registry and policy at most every 2 s


async def token(platform: Platform, http: httpx.AsyncClient) -> dict[str, str]:
    """The project's OAuth2 access token (the registry is per project, not per service plan)."""
    r = await http.post(f"{platform.base_url}/oauth2/token", auth=(platform.creds.key_id, platform.creds.key_secret),
                        data={"grant_type": "client_credentials"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def api(platform: Platform, path: str) -> str:
    return f"{platform.base_url}/tidings/v1/projects/{platform.creds.project_id}{path}"


async def test_registry_api(platform: Platform, http: httpx.AsyncClient) -> None:
    auth = await token(platform, http)
    r = await http.post(api(platform, "/senders"), headers=auth, json={
        "address": CAMPAIGN_NUMBER, "registrations": {"us": {"status": "registered", "reference": "C7XQ2A"}}})
    assert r.status_code == 201, r.text
    assert r.json() == {"address": CAMPAIGN_NUMBER, "kind": "long_code",
                        "registrations": {"US": {"status": "registered", "reference": "C7XQ2A"}}}
    r = await http.put(api(platform, "/senders/Shop"), headers=auth, json={"registrations": {"GB": "pending"}})
    assert r.status_code == 201 and r.json()["kind"] == "alphanumeric"
    r = await http.put(api(platform, "/senders/Shop"), headers=auth, json={"registrations": {"GB": "registered"}})
    assert r.status_code == 200 and r.json()["registrations"]["GB"]["status"] == "registered"
    listed = (await http.get(api(platform, "/senders"), headers=auth)).json()["senders"]
    assert [s["address"] for s in listed] == [CAMPAIGN_NUMBER, "Shop"]
    assert (await http.delete(api(platform, "/senders/Shop"), headers=auth)).status_code == 204
    assert (await http.get(api(platform, "/senders/Shop"), headers=auth)).status_code == 404
    assert (await http.delete(api(platform, "/senders/Shop"), headers=auth)).status_code == 404
    bad = await http.put(api(platform, "/senders/X"), headers=auth, json={"registrations": {"US": "maybe"}})
    assert bad.status_code == 400 and "registrations.US.status" in bad.json()["text"]
    bad = await http.put(api(platform, "/sender_policy"), headers=auth, json={"mode": "sometimes"})
    assert bad.status_code == 400
    assert (await http.get(api(platform, "/sender_policy"), headers=auth)).json() == {"mode": "off", "defaults": {}}
    other = await platform.project("other")
    r = await http.get(f"{platform.base_url}/tidings/v1/projects/{other.project_id}/senders", headers=auth)
    assert r.status_code in (401, 403, 404)
    assert (await http.get(api(platform, "/senders"))).status_code == 401


async def test_reject_then_rewrite_per_country(platform: Platform, http: httpx.AsyncClient) -> None:
    auth = await token(platform, http)
    await http.put(api(platform, f"/senders/{CAMPAIGN_NUMBER}"), headers=auth,
                   json={"registrations": {"US": {"status": "registered", "reference": "C7XQ2A"}}})
    await http.put(api(platform, "/senders/+14155550199"), headers=auth, json={"registrations": {"US": "pending"}})
    r = await http.put(api(platform, "/sender_policy"), headers=auth, json={"mode": "reject"})
    assert r.status_code == 200, r.text

    alpha_us = await platform.send(http, to=[US], body="alpha to US", **{"from": "Tidings"})
    alpha_se = await platform.send(http, to=[SE], body="alpha to SE", **{"from": "Tidings"})
    pending_us = await platform.send(http, to=[US_2], body="pending 10DLC", **{"from": "+14155550199"})
    campaign_us = await platform.send(http, to=[US_3], body="registered 10DLC", **{"from": CAMPAIGN_NUMBER})
    report = await wait_status(platform, http, alpha_us["id"], US, "Rejected")
    assert report["code"] == 491  # sender_not_allowed: no alphanumeric senders in the US
    report = await wait_status(platform, http, pending_us["id"], US_2, "Rejected")
    assert report["code"] == 492  # sender_not_registered
    await wait_status(platform, http, alpha_se["id"], SE, "Delivered")
    await wait_status(platform, http, campaign_us["id"], US_3, "Delivered")
    assert await handset_messages(platform, http, US) == []

    r = await http.put(api(platform, "/sender_policy"), headers=auth,
                       json={"mode": "rewrite", "defaults": {"US": CAMPAIGN_NUMBER}})
    assert r.status_code == 200
    await asyncio.sleep(POLICY_CACHE_S)
    # The batch's from_ton was for its own sender: the default sender goes out as a number
    # (international, '+' shown), not as the alphanumeric type the batch gave.
    rewritten = await platform.send(http, to=[US], body="alpha rewritten", from_ton=5, **{"from": "Tidings"})
    await wait_status(platform, http, rewritten["id"], US, "Delivered")
    [message] = await wait_handset(platform, http, US)
    assert (message["from"] if "from" in message else message["sender"]) == CAMPAIGN_NUMBER
