"""Batches sent to groups: a group id in `to` stands for the group's members (and its child groups')
at the send, deduplicated with the numbers beside it, within the recipient limit; the batch shows
the `to` as sent. SQLite and PostgreSQL; the SDK in both auth modes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sinch.domains.sms.api.v1.exceptions import SmsException
from sinch.domains.sms.models.v1.shared.text_response import TextResponse
from sqlalchemy import func, select

from tidings.api.testing import ApiServer, running_api, sdk_client
from tidings.config import Settings
from tidings.core.ids import ulid
from tidings.store.db import Database
from tidings.store.schema import batches, deliveries

N = [f"+4670000000{i}" for i in range(10)]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Project:
    def __init__(self, api: ApiServer, http: httpx.AsyncClient, service_plan_id: str, token: str) -> None:
        self.api, self.http = api, http
        self.url = api.xms_url(service_plan_id, "")
        self.headers = bearer(token)

    async def group(self, **body: Any) -> str:
        r = await self.http.post(self.url + "/groups", json=body, headers=self.headers)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return await self.http.post(self.url + path, json=body, headers={**self.headers, **kwargs})

    async def send(self, **body: Any) -> dict[str, Any]:
        r = await self.post("/batches", {"from": "Shop", "body": "Hello", **body})
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    async def get(self, path: str) -> dict[str, Any]:
        r = await self.http.get(self.url + path, headers=self.headers)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]


@pytest.fixture
async def http() -> Any:
    async with httpx.AsyncClient() as client:
        yield client


async def project(api: ApiServer, http: httpx.AsyncClient, name: str = "test") -> Project:
    creds = await api.project(name)
    return Project(api, http, creds.service_plan_id, creds.api_token)


async def recipients(api: ApiServer, batch_id: str) -> list[str]:
    async with api.ctx.db.read() as conn:
        rows = await conn.execute(select(deliveries.c.recipient).where(deliveries.c.batch_id == batch_id)
                                  .order_by(deliveries.c.id))
        return [row[0] for row in rows]


async def counts(api: ApiServer) -> tuple[int, int]:
    async with api.ctx.db.read() as conn:
        nb = (await conn.execute(select(func.count()).select_from(batches))).scalar_one()
        nd = (await conn.execute(select(func.count()).select_from(deliveries))).scalar_one()
    return int(nb), int(nd)


async def test_group_in_to_becomes_its_members(api: ApiServer, http: httpx.AsyncClient) -> None:
    p = await project(api, http)
    group = await p.group(name="Pets", members=[N[3], N[1], N[2]])
    sent = await p.send(to=[N[0], group.lower(), N[2], "46700000009", group])
    # The batch shows the `to` as sent: numbers in E.164, the group once, in upper case.
    assert sent["to"] == [N[0], group, N[2], N[9]]
    # Its recipients are the members at the send, in order, each once.
    assert await recipients(api, sent["id"]) == [N[0], N[1], N[2], N[3], N[9]]
    assert await api.dispatch.backlog() == 5
    async with api.ctx.db.read() as conn:
        row = (await conn.execute(select(batches).where(batches.c.id == sent["id"]))).one()
    assert (row.recipient_count, row.requested_to) == (5, [N[0], group, N[2], N[9]])
    assert (await p.get(f"/batches/{sent['id']}"))["to"] == sent["to"]
    assert [b["to"] for b in (await p.get("/batches"))["batches"]] == [sent["to"]]
    report = await p.get(f"/batches/{sent['id']}/delivery_report?type=full")
    assert report["total_message_count"] == 5

    # Later changes to the group do not change a batch already sent.
    assert (await p.post(f"/groups/{group}", {"add": [N[5]], "name": "Pets"})).status_code == 200
    assert await recipients(api, sent["id"]) == [N[0], N[1], N[2], N[3], N[9]]
    again = await p.send(to=[group])
    assert (again["to"], await recipients(api, again["id"])) == ([group], [N[1], N[2], N[3], N[5]])

    # A `to` of numbers keeps no requested `to`.
    plain = await p.send(to=[N[1]])
    async with api.ctx.db.read() as conn:
        stored = (await conn.execute(select(batches.c.requested_to).where(batches.c.id == plain["id"]))).scalar_one()
    assert stored is None


async def test_child_groups_to_any_depth_each_once(api: ApiServer, http: httpx.AsyncClient) -> None:
    p = await project(api, http)
    grandchild = await p.group(name="Grandchild", members=[N[4], N[1]])
    child = await p.group(name="Child", members=[N[3]], child_groups=[grandchild])
    other = await p.group(name="Other", members=[N[5]])
    parent = await p.group(name="Parent", members=[N[2]], child_groups=[child, other])
    # A cycle: the grandchild names the parent. Each group still counts once.
    cycle = {"name": "Grandchild", "members": [N[4], N[1]], "child_groups": [parent]}
    assert (await http.put(f"{p.url}/groups/{grandchild}", headers=p.headers, json=cycle)).status_code == 200

    sent = await p.send(to=[parent])
    assert await recipients(api, sent["id"]) == [N[2], N[3], N[1], N[4], N[5]]
    # size and /members are a group's own numbers.
    assert (await p.get(f"/groups/{parent}"))["size"] == 1
    assert await p.get(f"/groups/{parent}/members") == [N[2]]

    # A deleted child group is no longer part of its parent.
    assert (await http.delete(f"{p.url}/groups/{child}", headers=p.headers)).status_code == 200
    after = await p.send(to=[parent])
    assert await recipients(api, after["id"]) == [N[2], N[5]]


async def test_refused_group_sends_store_nothing(api: ApiServer, http: httpx.AsyncClient) -> None:
    p = await project(api, http)
    theirs = await (await project(api, http, "other")).group(name="Theirs", members=[N[1]])
    empty = await p.group(name="Empty")
    missing = ulid()
    invalid, fmt = (400, "syntax_constraint_violation"), (400, "syntax_invalid_parameter_format")
    unknown = (403, "unknown_group")
    cases = [
        ({"to": [N[0], missing]}, unknown, f"to[1]: no group {missing}"),
        ({"to": [theirs]}, unknown, f"to[0]: no group {theirs}"),  # another project's group is none of ours
        ({"to": [empty]}, invalid, "to: the groups named have no members"),
        ({"to": [empty, "12"]}, fmt, "to[1]: not a valid phone number: '12'"),
        ({"to": [empty], "body": ""}, invalid, "to: the groups named have no members"),
    ]
    for body, (status, code), text in cases:
        r = await p.post("/batches", {"from": "Shop", "body": "Hello", **body})
        assert r.status_code == status, r.text
        assert r.json() == {"code": code, "text": text}
    full = await p.group(name="Full", members=[N[1]])
    r = await p.post("/batches", {"to": [full], "from": "Shop"})
    assert (r.status_code, r.json()["text"]) == (400, "body: is required")
    assert await counts(api) == (0, 0)


async def test_members_count_against_the_recipient_limit(any_db: Database, http: httpx.AsyncClient) -> None:
    async with running_api(any_db, settings=Settings(max_recipients=3)) as api:
        p = await project(api, http)
        group = await p.group(members=N[:3])
        sent = await p.send(to=[group, N[0]])  # 3 recipients: the number is a member already
        assert await recipients(api, sent["id"]) == N[:3]
        r = await p.post("/batches", {"to": [group, N[5]], "from": "Shop", "body": "x"})
        assert r.status_code == 400
        assert r.json()["text"] == ("to: at most 3 recipients per batch; with the groups' members there are 4")
        r = await p.post("/batches/dry_run", {"to": [group, N[5]], "from": "Shop", "body": "x"})
        assert r.status_code == 400
        assert await counts(api) == (1, 3)


async def test_dry_run_expands_groups(api: ApiServer, http: httpx.AsyncClient) -> None:
    p = await project(api, http)
    group = await p.group(members=[N[1], N[2]])
    r = await p.post("/batches/dry_run?per_recipient=true",
                     {"to": [group, N[3], N[1]], "from": "Shop", "body": "Hi ${name}",
                      "parameters": {"name": {N[2]: "Bo", "default": "you"}}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["number_of_recipients"], body["number_of_messages"]) == (3, 3)
    assert [(x["recipient"], x["body"]) for x in body["per_recipient"]] == [
        (N[1], "Hi you"), (N[2], "Hi Bo"), (N[3], "Hi you")]
    missing = ulid()
    r = await p.post("/batches/dry_run", {"to": [missing], "from": "Shop", "body": "x"})
    assert (r.status_code, r.json()) == (403, {"code": "unknown_group", "text": f"to[0]: no group {missing}"})
    assert await counts(api) == (0, 0)


async def test_replace_update_and_replay_keep_the_requested_to(api: ApiServer, http: httpx.AsyncClient) -> None:
    p = await project(api, http)
    group = await p.group(members=[N[1], N[2]])
    scheduled = {"from": "Shop", "body": "Later", "send_at": "2099-01-01T10:00:00Z"}
    sent = await p.send(to=[N[0]], **scheduled)

    replaced = await http.put(f"{p.url}/batches/{sent['id']}", headers=p.headers,
                              json={"to": [group, N[3]], **scheduled})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["to"] == [group, N[3]]
    # Scheduled: the group's members are read at send_at; until then the `to`'s own numbers.
    assert await recipients(api, sent["id"]) == [N[3]]

    updated = await p.post(f"/batches/{sent['id']}", {"to_add": [N[4]], "to_remove": [N[3], N[1]]})
    assert updated.status_code == 200, updated.text
    # Numbers follow the change; the group stays named (its member N[1] is left out when it is
    # expanded).
    assert updated.json()["to"] == [group, N[4]]
    assert (await p.get(f"/batches/{sent['id']}"))["to"] == [group, N[4]]
    assert await recipients(api, sent["id"]) == [N[4]]
    async with api.ctx.db.read() as conn:
        row = (await conn.execute(select(batches).where(batches.c.id == sent["id"]))).one()
    assert (row.excluded_recipients, row.expand_groups_ms is not None) == ([N[3], N[1]], True)

    back = await http.put(f"{p.url}/batches/{sent['id']}", headers=p.headers, json={"to": [N[5]], **scheduled})
    assert back.json()["to"] == [N[5]]
    assert (await p.get(f"/batches/{sent['id']}"))["to"] == [N[5]]

    first = await p.post("/batches", {"to": [group], "from": "Shop", "body": "once"}, **{"Idempotency-Key": "k1"})
    retry = await p.post("/batches", {"to": [group], "from": "Shop", "body": "once"}, **{"Idempotency-Key": "k1"})
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json() == first.json() and first.json()["to"] == [group]
    assert await counts(api) == (2, 3)


async def test_sdk_sends_to_a_group(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    client = sdk_client(auth_mode, api.base_url, creds)
    group = await asyncio.to_thread(client.sms.groups.create, name="Pets", members=[N[1], N[2]])
    sent = await asyncio.to_thread(client.sms.batches.send_sms, to=[group.id, N[3]], from_="Shop", body="Hi")
    assert isinstance(sent, TextResponse)
    assert sent.to == [group.id, N[3]]
    assert await recipients(api, sent.id) == [N[1], N[2], N[3]]
    got = await asyncio.to_thread(client.sms.batches.get, batch_id=sent.id)
    assert isinstance(got, TextResponse) and got.to == [group.id, N[3]]
    other = sdk_client(auth_mode, api.base_url, await api.project("other"))
    with pytest.raises(SmsException) as err:
        await asyncio.to_thread(other.sms.batches.send_sms, to=[group.id], from_="Shop", body="Hi")
    assert err.value.response_status_code == 403
    assert err.value.http_response.body == {"code": "unknown_group", "text": f"to[0]: no group {group.id}"}
