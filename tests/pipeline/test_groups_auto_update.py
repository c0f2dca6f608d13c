"""A group's auto_update end to end, in both profiles: a sandbox handset texts JOIN to the group's
number, the SMSC delivers the MO over SMPP, the outcome writer stores it and adds the handset to
the group; a batch sent to the group id reaches the handset; LEAVE (or STOP, where that is the
group's remove keyword) takes it out again."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import insert

from tidings.store.schema import numbers
from tidings.testing.platform import Platform

from .helpers import wait_handset, wait_until
from .test_inbound import handset_replies

OURS = "+46700001021"
HANDSET = "+46701330001"


async def members(platform: Platform, http: httpx.AsyncClient, group_id: str) -> list[str]:
    response = await http.get(platform.xms(f"/groups/{group_id}/members"), headers=platform.auth)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def wait_members(platform: Platform, http: httpx.AsyncClient, group_id: str, expected: list[str]) -> None:
    last: list[Any] = []

    async def check() -> bool:
        last[:] = await members(platform, http, group_id)
        return last == expected

    try:
        await wait_until(check, f"group members {expected}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; members: {last}") from None


async def test_handset_joins_by_keyword_gets_the_group_send_and_leaves(
    platform: Platform, http: httpx.AsyncClient,
) -> None:
    # The number is the project's (XMS: provisioned by the account manager; here, its row).
    async with platform.ctx.db.write() as conn:
        await conn.execute(insert(numbers).values(number=OURS, project_id=platform.creds.project_id,
                                                  service_plan_id=platform.creds.service_plan_id))
    created = []
    for name, remove in (("Pets", "LEAVE"), ("Offers", "STOP")):
        response = await http.post(platform.xms("/groups"), headers=platform.auth, json={
            "name": name, "members": ["+46701330002"],
            "auto_update": {"to": OURS, "add": {"first_word": "join"}, "remove": {"first_word": remove}}})
        assert response.status_code == 201, response.text
        created.append(response.json()["id"])
    pets, offers = created

    await handset_replies(platform, http, HANDSET, OURS, "JOIN")
    await wait_members(platform, http, pets, [HANDSET, "+46701330002"])
    await wait_members(platform, http, offers, [HANDSET, "+46701330002"])

    sent = await platform.send(http, to=[pets], body="Pet food is on offer", **{"from": OURS})
    assert sent["to"] == [pets]
    [message] = await wait_handset(platform, http, HANDSET)
    assert message["body"] == "Pet food is on offer"
    await wait_handset(platform, http, "+46701330002")

    await handset_replies(platform, http, HANDSET, OURS, "Leave")
    await wait_members(platform, http, pets, ["+46701330002"])
    assert await members(platform, http, offers) == [HANDSET, "+46701330002"]
    await handset_replies(platform, http, HANDSET, OURS, "STOP")
    await wait_members(platform, http, offers, ["+46701330002"])

    # Each MO is stored as an inbound too.
    inbound = await http.get(platform.xms("/inbounds"), headers=platform.auth)
    assert sorted(i["body"] for i in inbound.json()["inbounds"]) == ["JOIN", "Leave", "STOP"]
