"""XMS groups on the wire (raw HTTP): exact JSON shapes, status codes, XMS error bodies, limits."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from tidings.api.testing import ApiServer, running_api
from tidings.config import Settings
from tidings.core.ids import ulid
from tidings.store.db import Database

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Groups:
    """Raw calls to one project's groups, by service plan and API token."""

    def __init__(self, api: ApiServer, http: httpx.AsyncClient, service_plan_id: str, token: str) -> None:
        self.url = api.xms_url(service_plan_id, "/groups")
        self.http = http
        self.headers = bearer(token)

    async def post(self, path: str = "", body: Any = None, **kwargs: Any) -> httpx.Response:
        if body is not None:
            kwargs["json"] = body
        return await self.http.post(self.url + path, headers=self.headers, **kwargs)

    async def get(self, path: str = "", **kwargs: Any) -> httpx.Response:
        return await self.http.get(self.url + path, headers=self.headers, **kwargs)

    async def put(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        if body is not None:
            kwargs["json"] = body
        return await self.http.put(self.url + path, headers=self.headers, **kwargs)

    async def delete(self, path: str) -> httpx.Response:
        return await self.http.delete(self.url + path, headers=self.headers)


@pytest.fixture
async def http() -> Any:
    async with httpx.AsyncClient() as client:
        yield client


async def groups_of(api: ApiServer, http: httpx.AsyncClient, name: str = "test") -> Groups:
    creds = await api.project(name)
    return Groups(api, http, creds.service_plan_id, creds.api_token)


def error(response: httpx.Response, status: int, code: str, text: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"code": code, "text": text}


async def test_group_json_is_exactly_xms(api: ApiServer, http: httpx.AsyncClient) -> None:
    g = await groups_of(api, http)
    child = (await g.post(body={"name": "Child"})).json()
    r = await g.post(body={
        "name": "My new customers", "members": ["+46700000001", "46700000002", "+46700000001"],
        "child_groups": [child["id"], child["id"].lower()],
        "auto_update": {"to": "+46 70 000 10 01", "add": {"first_word": "Tidings", "second_word": "JOIN"},
                        "remove": {"first_word": "STOP", "second_word": None}},
    })
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert list(body) == ["id", "name", "size", "created_at", "modified_at", "child_groups", "auto_update"]
    assert len(body["id"]) == 26
    assert body["name"] == "My new customers"
    assert body["size"] == 2
    assert ISO_MS.match(body["created_at"]) and body["modified_at"] == body["created_at"]
    assert body["child_groups"] == [child["id"]]  # upper case, once
    assert body["auto_update"] == {"to": "+46700001001", "add": {"first_word": "Tidings", "second_word": "JOIN"},
                                   "remove": {"first_word": "STOP"}}
    assert (await g.get(f"/{body['id']}")).json() == body

    # Unset optional fields are left out, not null.
    assert list(child) == ["id", "name", "size", "created_at", "modified_at"]
    bare = (await g.post(body={})).json()
    assert list(bare) == ["id", "size", "created_at", "modified_at"]
    short_code = (await g.post(body={"auto_update": {"to": "12345"}})).json()
    assert short_code["auto_update"] == {"to": "12345"}

    members = await g.get(f"/{body['id']}/members")
    assert members.status_code == 200
    assert members.json() == ["+46700000001", "+46700000002"]  # a bare array


async def test_list_page_shape(api: ApiServer, http: httpx.AsyncClient) -> None:
    g = await groups_of(api, http)
    for i in range(3):
        assert (await g.post(body={"name": f"g{i}"})).status_code == 201
        api.clock.advance(0.01)
    page = (await g.get(params={"page": 1, "page_size": 2})).json()
    assert list(page) == ["count", "page", "page_size", "groups"]
    assert (page["count"], page["page"], page["page_size"]) == (3, 1, 1)
    assert [x["name"] for x in page["groups"]] == ["g0"]
    assert (await g.get(params={"page": 5})).json() == {"count": 3, "page": 5, "page_size": 0, "groups": []}
    error(await g.get(params={"page_size": 0}), 400, "syntax_constraint_violation",
          "page_size: must be between 1 and 100")
    error(await g.get(params={"page": "x"}), 400, "syntax_invalid_parameter_format", "page: not an integer: 'x'")


async def test_delete_is_200_without_a_body(api: ApiServer, http: httpx.AsyncClient) -> None:
    g = await groups_of(api, http)
    group = (await g.post(body={"name": "x", "members": ["+46700000001"]})).json()
    r = await g.delete(f"/{group['id']}")
    assert (r.status_code, r.content) == (200, b"")
    error(await g.get(f"/{group['id']}"), 404, "not_found", f"Group {group['id']} not found")
    error(await g.get(f"/{group['id']}/members"), 404, "not_found", f"Group {group['id']} not found")
    error(await g.delete(f"/{group['id']}"), 404, "not_found", f"Group {group['id']} not found")


async def test_update_name_null_removes_it_and_absent_keeps_it(api: ApiServer, http: httpx.AsyncClient) -> None:
    g = await groups_of(api, http)
    group = (await g.post(body={"name": "Keep", "auto_update": {"to": "+46700001001"}})).json()
    kept = (await g.post(f"/{group['id']}", {"add": ["+46700000001"], "auto_update": None})).json()
    assert (kept["name"], kept["size"], kept["auto_update"]) == ("Keep", 1, {"to": "+46700001001"})
    removed = (await g.post(f"/{group['id']}", {"name": None})).json()
    assert "name" not in removed
    partial = (await g.post(f"/{group['id']}", {"auto_update": {"add": {"first_word": "JOIN"}}})).json()
    assert partial["auto_update"] == {"to": "+46700001001", "add": {"first_word": "JOIN"}}


async def test_requests_refused_as_xms_errors(api: ApiServer, http: httpx.AsyncClient) -> None:
    g = await groups_of(api, http)
    group = (await g.post(body={"name": "Main"})).json()
    gid = group["id"]
    missing = ulid()
    invalid = "syntax_constraint_violation"
    fmt = "syntax_invalid_parameter_format"
    cases: list[tuple[str, Any, str, str]] = [
        ("", {"name": "x", "colour": "red"}, invalid, "colour: unknown field"),
        ("", {"name": ""}, invalid, "name: must be 1 to 20 characters"),
        ("", {"name": "x" * 21}, invalid, "name: must be 1 to 20 characters"),
        ("", {"name": 7}, fmt, "name: must be a string"),
        ("", {"members": "+46700000001"}, fmt, "members: must be a list of phone numbers"),
        ("", {"members": ["+46700000001", "12"]}, fmt, "members[1]: not a valid phone number: '12'"),
        ("", {"members": [46700000001]}, fmt, "members[0]: must be a string phone number"),
        ("", {"child_groups": ["nope"]}, fmt, "child_groups[0]: not a group id: 'nope'"),
        ("", {"child_groups": [ulid() for _ in range(11)]}, invalid, "child_groups: at most 10 child groups"),
        ("", {"auto_update": {"add": {"first_word": "JOIN"}}}, invalid, "auto_update.to: is required"),
        ("", {"auto_update": {"to": "+46700001001", "via": "x"}}, invalid, "auto_update.via: unknown field"),
        ("", {"auto_update": {"to": "12"}}, fmt, "auto_update.to: not a valid phone number: '12'"),
        ("", {"auto_update": {"to": "+46700001001", "add": {}}}, invalid,
         "auto_update.add.first_word: is required"),
        ("", {"auto_update": {"to": "+46700001001", "add": {"first_word": "TWO WORDS"}}}, invalid,
         "auto_update.add.first_word: must be one word"),
        ("", {"auto_update": {"to": "+46700001001", "remove": {"first_word": "STOP", "third_word": "x"}}}, invalid,
         "auto_update.remove.third_word: unknown field"),
        ("", {"auto_update": {"to": "+46700001001", "add": {"first_word": "J" * 33}}}, invalid,
         "auto_update.add.first_word: at most 32 characters"),
        ("", {"auto_update": "+46700001001"}, fmt, "auto_update: must be an object with to, add and remove"),
        (f"/{gid}", {"members": ["+46700000001"]}, invalid, "members: unknown field"),
        (f"/{gid}", {"add": ["+46700000001", "x"]}, fmt, "add[1]: not a valid phone number: 'x'"),
        (f"/{gid}", {"remove": ["x"]}, fmt, "remove[0]: not a valid phone number: 'x'"),
        (f"/{gid}", {"remove_from_group": "x"}, fmt, "remove_from_group: not a group id: 'x'"),
        (f"/{gid}", {"auto_update": {"add": {"first_word": "JOIN"}}}, invalid,
         "auto_update.to: is required: the group has no auto_update yet"),
        (f"/{gid}", ["+46700000001"], "syntax_invalid_json", "The request body must be a JSON object"),
    ]
    for path, body, code, text in cases:
        error(await g.post(path, body), 400, code, text)
    # A group id that is no group of the project: XMS's 403 unknown_group.
    error(await g.post("", {"child_groups": [missing]}), 403, "unknown_group", f"child_groups[0]: no group {missing}")
    error(await g.post(f"/{gid}", {"add_from_group": missing}), 403, "unknown_group",
          f"add_from_group: no group {missing}")
    error(await g.put(f"/{gid}", {"child_groups": [gid]}), 400, invalid,
          "child_groups[0]: a group cannot be its own child")
    error(await g.put(f"/{gid}", {"to": ["+46700000001"]}), 400, invalid, "to: unknown field")
    not_json = await g.http.post(g.url, content=b"{nope", headers={**g.headers, "Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert not_json.json()["code"] == "syntax_invalid_json" and not_json.json()["text"].startswith("Invalid JSON: ")
    for path in (f"/{missing}", f"/{missing}/members"):
        error(await g.get(path), 404, "not_found", f"Group {missing} not found")
    error(await g.post(f"/{missing}", {"name": "x"}), 404, "not_found", f"Group {missing} not found")
    error(await g.put(f"/{missing}", {"name": "x"}), 404, "not_found", f"Group {missing} not found")
    # Nothing of the refused requests was kept.
    assert (await g.get()).json()["count"] == 1
    assert (await g.get(f"/{gid}")).json() == group


async def test_credentials_are_checked_like_batches(api: ApiServer, http: httpx.AsyncClient) -> None:
    creds = await api.project()
    other = await api.project("other")
    url = api.xms_url(creds.service_plan_id, "/groups")
    assert (await http.get(url)).status_code == 401
    assert (await http.get(url, headers=bearer("wrong"))).status_code == 401
    # Another plan's token does not open this plan's path.
    assert (await http.post(url, headers=bearer(other.api_token), json={})).status_code == 401


async def test_size_limits(any_db: Database, http: httpx.AsyncClient) -> None:
    """A group holds at most `max_recipients` numbers, as a batch does."""
    async with running_api(any_db, settings=Settings(max_recipients=3)) as api:
        g = await groups_of(api, http)
        numbers = [f"+4670000000{i}" for i in range(5)]
        error(await g.post(body={"members": numbers[:4]}), 400, "syntax_constraint_violation",
              "members: at most 3 numbers")
        group = (await g.post(body={"members": numbers[:3] + [numbers[0]]})).json()
        assert group["size"] == 3
        error(await g.post(f"/{group['id']}", {"add": [numbers[3]]}), 400, "syntax_constraint_violation",
              "add: a group has at most 3 members")
        other = (await g.post(body={"members": numbers[3:]})).json()
        error(await g.post(f"/{group['id']}", {"add_from_group": other["id"]}), 400, "syntax_constraint_violation",
              "add_from_group: a group has at most 3 members")
        assert (await g.get(f"/{group['id']}/members")).json() == numbers[:3]  # unchanged
        # Room made in the same request counts: removes apply before the size is checked.
        swapped = await g.post(f"/{group['id']}", {"add": [numbers[3]], "remove": [numbers[0]]})
        assert swapped.status_code == 200, swapped.text
        assert swapped.json()["size"] == 3


async def test_concurrent_updates_keep_each_number_once(api: ApiServer, http: httpx.AsyncClient) -> None:
    g = await groups_of(api, http)
    group = (await g.post(body={"name": "Busy"})).json()
    numbers = [f"+467000000{i:02d}" for i in range(12)]
    # Twenty requests at once, each adding an overlapping slice.
    responses = await asyncio.gather(*(g.post(f"/{group['id']}", {"add": numbers[i % 6:i % 6 + 6]})
                                       for i in range(20)))
    assert {r.status_code for r in responses} == {200}
    assert (await g.get(f"/{group['id']}/members")).json() == numbers[:11]
    assert (await g.get(f"/{group['id']}")).json()["size"] == 11
