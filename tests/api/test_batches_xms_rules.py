"""XMS rules for batches that Sinch documents and a client can tell apart: an update of a
dispatched batch (403 `batch_already_dispatched`), messages over `max_number_of_message_parts`
(accepted, Aborted with 411), date-times the API can show (years 1 to 9999), an explicit
expire_at kept by a new send_at, the `from` filter, parameter names and limits, the error codes
of XMS (missing field, bad MSISDN, unknown group, report type, Content-Type) and list parameters
too large for any database integer. SQLite and PostgreSQL; the official SDK where a client would
use it; every refused request writes nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import orjson
import pytest
from sinch.domains.sms.api.v1.exceptions import SmsException
from sinch.domains.sms.models.v1.shared.text_response import TextResponse
from sqlalchemy import func, select, update

from tidings.actions.projects import ProjectCredentials
from tidings.api.testing import ApiServer, sdk_client
from tidings.core.ids import ulid
from tidings.store.schema import batches, deliveries, webhook_outbox

TO = ["+46700000001", "+46700000002"]
HOUR = 3600


async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


def iso_in(api: ApiServer, seconds: float) -> str:
    at = dt.datetime.fromtimestamp(api.clock() / 1000 + seconds, dt.UTC)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Xms:
    """Raw XMS calls for one project, by service plan and API token."""

    def __init__(self, api: ApiServer, http: httpx.AsyncClient, creds: ProjectCredentials) -> None:
        self.api, self.http, self.creds = api, http, creds
        self.headers = {"Authorization": f"Bearer {creds.api_token}"}

    def url(self, path: str) -> str:
        return self.api.xms_url(self.creds.service_plan_id, path)

    async def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        if body is not None:
            kwargs["json"] = body
        return await self.http.request(method, self.url(path), headers={**self.headers, **kwargs.pop("headers", {})},
                                       **kwargs)

    async def send(self, **body: Any) -> dict[str, Any]:
        r = await self.request("POST", "/batches", {"to": TO, "from": "Shop", "body": "Hello", **body})
        assert r.status_code == 201, r.text
        return dict(r.json())


@pytest.fixture
async def xms(api: ApiServer) -> Any:
    async with httpx.AsyncClient() as http:
        yield Xms(api, http, await api.project())


async def rows(api: ApiServer, batch_id: str) -> list[tuple[str, str, int, int | None, int | None]]:
    """(recipient, status, code, segments, published_ms) of the batch's deliveries."""
    async with api.ctx.db.read() as conn:
        result = await conn.execute(
            select(deliveries.c.recipient, deliveries.c.status, deliveries.c.code, deliveries.c.segments,
                   deliveries.c.published_ms).where(deliveries.c.batch_id == batch_id).order_by(deliveries.c.id))
        return [(r[0], r[1], r[2], r[3], r[4]) for r in result]


async def counts(api: ApiServer) -> tuple[int, ...]:
    """How many batches, deliveries and webhooks there are."""
    async with api.ctx.db.read() as conn:
        return tuple([int((await conn.execute(select(func.count()).select_from(t))).scalar_one())
                      for t in (batches, deliveries, webhook_outbox)])


async def reports(api: ApiServer) -> list[tuple[str, str, int]]:
    async with api.ctx.db.read() as conn:
        bodies = [orjson.loads(r[0]) for r in await conn.execute(select(webhook_outbox.c.body))]
    return [(b["recipient"], b["status"], b["code"]) for b in bodies]


def refused(r: httpx.Response, status: int, code: str, text: str) -> None:
    assert r.status_code == status, r.text
    assert r.json() == {"code": code, "text": text}


# ---------------------------------------------------------------------------------------------
# Update of a dispatched batch


@pytest.mark.parametrize("taken", [{"claimed_ms": 1}, {"status": "Dispatched", "code": 401}])
async def test_update_of_a_dispatched_batch_is_403_and_changes_nothing(
    api: ApiServer, auth_mode: str, taken: dict[str, Any],
) -> None:
    creds = await api.project()
    client = sdk_client(auth_mode, api.base_url, creds)
    sent = await call(client.sms.batches.send_sms, to=TO, from_="Shop", body="hi")
    # Not dispatched yet: an update goes through.
    updated = await call(client.sms.batches.update_sms, batch_id=sent.id, body="hi again")
    assert isinstance(updated, TextResponse) and updated.body == "hi again"
    async with api.ctx.db.write() as conn:  # a worker takes the first recipient
        first = (await conn.execute(select(func.min(deliveries.c.id)).where(deliveries.c.batch_id == sent.id))).scalar()
        await conn.execute(update(deliveries).where(deliveries.c.id == first).values(**taken))
    before = await rows(api, sent.id)
    with pytest.raises(SmsException) as err:
        await call(client.sms.batches.update_sms, batch_id=sent.id, body="too late", to_add=["+46700000003"],
                   to_remove=[TO[1]])
    assert err.value.response_status_code == 403
    assert err.value.http_response.body == {
        "code": "batch_already_dispatched", "text": "The batch has already been dispatched and cannot be updated"}
    assert await rows(api, sent.id) == before
    got = await call(client.sms.batches.get, batch_id=sent.id)
    assert (got.body, got.to) == ("hi again", TO)


# ---------------------------------------------------------------------------------------------
# max_number_of_message_parts


async def test_messages_over_the_parts_limit_are_accepted_and_aborted_with_411(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    client = sdk_client(auth_mode, api.base_url, creds)
    long_value = "€" * 160  # "Hi " and 160 two-septet signs: 323 septets, 3 parts
    args = {"to": TO, "from_": "Shop", "body": "Hi ${name}", "max_number_of_message_parts": 2,
            "parameters": {"name": {TO[0]: long_value, "default": "you"}}}
    dry = await call(client.sms.batches.dry_run_sms, per_recipient=True, **args)
    assert [(p.recipient, p.number_of_parts) for p in dry.per_recipient] == [(TO[0], 3), (TO[1], 1)]
    sent = await call(client.sms.batches.send_sms, delivery_report="per_recipient",
                      event_destination_target="https://example.com/cb", **args)
    assert isinstance(sent, TextResponse) and sent.max_number_of_message_parts == 2
    [aborted, queued] = await rows(api, sent.id)
    assert aborted[:4] == (TO[0], "Aborted", 411, 3) and aborted[4] is None
    assert queued[:4] == (TO[1], "Queued", 400, 1) and queued[4] is not None
    assert await api.dispatch.backlog() == 1  # only the message that fits is sent
    assert await reports(api) == [(TO[0], "Aborted", 411)]
    report = await call(client.sms.delivery_reports.get_for_number, batch_id=sent.id, recipient=TO[0])
    assert (report.status, report.code) == ("Aborted", 411)
    # One body too long for everyone: still accepted, every recipient Aborted.
    everyone = await call(client.sms.batches.send_sms, to=TO, from_="Shop", body="x" * 400,
                          max_number_of_message_parts=2)
    assert [r[1:3] for r in await rows(api, everyone.id)] == [("Aborted", 411)] * 2
    assert await api.dispatch.backlog() == 1


async def test_an_update_over_the_parts_limit_aborts_those_messages(api: ApiServer, xms: Xms) -> None:
    sent = await xms.send(send_at=iso_in(api, HOUR), max_number_of_message_parts=1, delivery_report="per_recipient",
                          callback_url="https://example.com/cb")
    r = await xms.request("POST", f"/batches/{sent['id']}", {"body": "x" * 200, "to_add": ["+46700000003"]})
    assert r.status_code == 200, r.text
    assert [row[:4] for row in await rows(api, sent["id"])] == [
        (TO[0], "Aborted", 411, 2), (TO[1], "Aborted", 411, 2), ("+46700000003", "Aborted", 411, 2)]
    assert sorted(await reports(api)) == [(n, "Aborted", 411) for n in (*TO, "+46700000003")]
    # A replace that fits again is a new batch under the same id: everyone is sent.
    r = await xms.request("PUT", f"/batches/{sent['id']}", {"to": TO, "from": "Shop", "body": "short",
                                                            "max_number_of_message_parts": 1})
    assert r.status_code == 200, r.text
    assert [row[:3] for row in await rows(api, sent["id"])] == [(TO[0], "Queued", 400), (TO[1], "Queued", 400)]


# ---------------------------------------------------------------------------------------------
# Date-times


@pytest.mark.parametrize(("body", "text"), [
    ({"send_at": "9999-12-31T00:00:00Z"},
     "send_at: too late: expire_at, 3 days after it, would be after the year 9999"),
    ({"send_at": "9999-12-31T23:00:00-05:00"}, "send_at: must be in the years 1 to 9999 (UTC)"),
    ({"expire_at": "9999-12-31T23:30:00-01:00"}, "expire_at: must be in the years 1 to 9999 (UTC)"),
    ({"send_at": "0001-01-01T00:30:00+01:00"}, "send_at: must be in the years 1 to 9999 (UTC)"),
])
async def test_date_times_beyond_the_year_9999_are_refused(api: ApiServer, xms: Xms, body: dict[str, str],
                                                           text: str) -> None:
    refused(await xms.request("POST", "/batches", {"to": TO, "from": "Shop", "body": "x", **body}), 400,
            "syntax_constraint_violation", text)
    scheduled = await xms.send(send_at=iso_in(api, HOUR))
    refused(await xms.request("POST", f"/batches/{scheduled['id']}", body), 400, "syntax_constraint_violation", text)
    assert await counts(api) == (1, 2, 0)
    assert (await xms.request("GET", f"/batches/{scheduled['id']}")).json() == scheduled


async def test_the_latest_date_times_are_shown_and_read_by_the_sdk(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    client = sdk_client(auth_mode, api.base_url, creds)
    send_at = dt.datetime(9999, 12, 28, tzinfo=dt.UTC)
    sent = await call(client.sms.batches.send_sms, to=TO, from_="Shop", body="far", send_at=send_at)
    got = await call(client.sms.batches.get, batch_id=sent.id)
    assert isinstance(got, TextResponse)
    assert (got.send_at, got.expire_at) == (send_at, dt.datetime(9999, 12, 31, tzinfo=dt.UTC))


# ---------------------------------------------------------------------------------------------
# A new send_at and an explicit expire_at


async def test_a_new_send_at_keeps_an_explicit_expire_at_that_still_fits(api: ApiServer, xms: Xms) -> None:
    start = api.clock() // 1000 * 1000

    def at(hours: float) -> str:
        return dt.datetime.fromtimestamp(start / 1000 + hours * HOUR, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    async def move(batch: dict[str, Any], hours: float) -> str:
        r = await xms.request("POST", f"/batches/{batch['id']}", {"send_at": at(hours)})
        assert r.status_code == 200, r.text
        assert r.json()["send_at"] == at(hours)
        return str(r.json()["expire_at"])

    explicit = await xms.send(send_at=at(1), expire_at=at(5))
    assert await move(explicit, 2) == at(5)
    # A body change meanwhile does not make it a default one.
    assert (await xms.request("POST", f"/batches/{explicit['id']}", {"body": "changed"})).status_code == 200
    assert await move(explicit, 3) == at(5)
    # A send_at at or after it: the default, 3 days after the new send_at.
    assert await move(explicit, 6) == at(6 + 72)
    # A default expiry follows the send_at.
    default = await xms.send(send_at=at(1))
    assert default["expire_at"] == at(1 + 72)
    assert await move(default, 2) == at(2 + 72)


# ---------------------------------------------------------------------------------------------
# The `from` filter


async def test_the_from_filter_matches_numbers_with_or_without_plus(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    client = sdk_client(auth_mode, api.base_url, creds)
    plus = await call(client.sms.batches.send_sms, to=TO, from_="+46700000010", body="a")
    bare = await call(client.sms.batches.send_sms, to=TO, from_="46700000011", body="b")
    shop = await call(client.sms.batches.send_sms, to=TO, from_="Shop", body="c")

    async def listed(*senders: str) -> list[str]:
        return sorted(b.id for b in (await call(client.sms.batches.list, from_=list(senders))).content())

    assert await listed("46700000010") == [plus.id]
    assert await listed("+46700000011") == [bare.id]
    assert await listed("0046700000010", "Shop") == sorted([plus.id, shop.id])
    assert await listed("+46 70-000 00 11") == [bare.id]
    assert await listed("shop") == []  # an alphanumeric sender is matched as it is


# ---------------------------------------------------------------------------------------------
# Parameters


async def test_parameter_names_with_dots_are_substituted(api: ApiServer, xms: Xms) -> None:
    body = {"to": TO, "from": "Shop", "body": "Hi ${first.name} ${last-name} ${x_1}",
            "parameters": {"first.name": {TO[0]: "Ann", "default": "friend"}, "last-name": {"default": "Lee"},
                           "x_1": {TO[1]: "!"}}}
    r = await xms.request("POST", "/batches/dry_run", body, params={"per_recipient": "true"})
    assert r.status_code == 200, r.text
    assert [p["body"] for p in r.json()["per_recipient"]] == ["Hi Ann Lee ${x_1}", "Hi friend Lee !"]


@pytest.mark.parametrize(("parameters", "code", "text"), [
    ({"first name": {"default": "x"}}, "syntax_invalid_parameter_format",
     "parameters.first name: a parameter name is letters A-Z and a-z, digits 0-9, '.', '-' and '_'"),
    ({"näme": {"default": "x"}}, "syntax_invalid_parameter_format",
     "parameters.näme: a parameter name is letters A-Z and a-z, digits 0-9, '.', '-' and '_'"),
    ({"": {"default": "x"}}, "syntax_invalid_parameter_format",
     "parameters.: a parameter name is letters A-Z and a-z, digits 0-9, '.', '-' and '_'"),
    ({"a" * 17: {"default": "x"}}, "syntax_constraint_violation",
     f"parameters.{'a' * 17}: a parameter name has at most 16 characters"),
    ({"name": {TO[0]: "x" * 161}}, "syntax_constraint_violation",
     "parameters.name: a value has at most 160 characters"),
    ({"name": {"default": "x" * 161}}, "syntax_constraint_violation",
     "parameters.name: a value has at most 160 characters"),
])
async def test_parameter_limits_are_400(api: ApiServer, xms: Xms, parameters: dict[str, Any], code: str,
                                        text: str) -> None:
    for path in ("/batches", "/batches/dry_run"):
        refused(await xms.request("POST", path, {"to": TO, "from": "Shop", "body": "x", "parameters": parameters}),
                400, code, text)
    assert await counts(api) == (0, 0, 0)
    assert (await xms.send(parameters={"a" * 16: {"default": "x" * 160}}))["parameters"]


# ---------------------------------------------------------------------------------------------
# XMS error codes


async def test_error_codes_are_those_of_xms(api: ApiServer, xms: Xms) -> None:
    refused(await xms.request("POST", "/batches", {"to": TO, "from": "Shop"}), 400,
            "syntax_constraint_violation", "body: is required")
    refused(await xms.request("POST", "/batches", {"from": "Shop", "body": "x"}), 400,
            "syntax_constraint_violation", "to: is required")
    refused(await xms.request("POST", "/batches", {"to": [TO[0], "12"], "from": "Shop", "body": "x"}), 400,
            "syntax_invalid_parameter_format", "to[1]: not a valid phone number: '12'")
    missing = ulid()
    refused(await xms.request("POST", "/batches", {"to": [TO[0], missing], "from": "Shop", "body": "x"}), 403,
            "unknown_group", f"to[1]: no group {missing}")
    refused(await xms.request("POST", "/groups", {"name": "g", "child_groups": [missing]}), 403,
            "unknown_group", f"child_groups[0]: no group {missing}")
    sent = await xms.send()
    refused(await xms.request("GET", f"/batches/{sent['id']}/delivery_report", params={"type": "detailed"}), 404,
            "not_found", "type: no delivery report of type 'detailed' (summary or full)")
    # Cancelling a batch is possible at any time, also once it was sent: 200, its statuses stay.
    async with api.ctx.db.write() as conn:
        await conn.execute(update(deliveries).where(deliveries.c.batch_id == sent["id"])
                           .values(status="Delivered", code=0, claimed_ms=1))
    cancelled = await xms.request("DELETE", f"/batches/{sent['id']}")
    assert (cancelled.status_code, cancelled.json()["canceled"]) == (200, True)
    assert [r[1] for r in await rows(api, sent["id"])] == ["Delivered", "Delivered"]
    assert await counts(api) == (1, 2, 0)


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/batches"), ("POST", "/batches/dry_run"), ("POST", "/groups"), ("POST", "/batches/{batch}"),
    ("PUT", "/batches/{batch}"), ("POST", "/batches/{batch}/delivery_feedback"),
])
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_a_body_that_is_not_declared_json_is_415(api: ApiServer, xms: Xms, method: str, path: str,
                                                       content_type: str | None) -> None:
    sent = await xms.send(send_at=iso_in(api, HOUR), feedback_enabled=True)
    before = await counts(api)
    body = orjson.dumps({"to": TO, "from": "Shop", "body": "x", "name": "g", "recipients": []})
    headers = {} if content_type is None else {"Content-Type": content_type}
    r = await xms.request(method, path.format(batch=sent["id"]), content=body, headers=headers)
    shown = "missing" if content_type is None else repr(content_type)
    refused(r, 415, "unsupported_media_type", f"Content-Type must be application/json, not {shown}")
    assert await counts(api) == before
    # Declared JSON, with a charset, it is read.
    ok = await xms.request(method, path.format(batch=sent["id"]), content=body,
                           headers={"Content-Type": "application/json; charset=UTF-8"})
    assert ok.status_code < 300 or ok.json()["code"] != "unsupported_media_type"


# ---------------------------------------------------------------------------------------------
# Integers in list queries


HUGE = "99999999999999999999"


@pytest.mark.parametrize(("path", "query", "named"), [
    ("/batches", {"page": HUGE}, "page"),
    ("/batches", {"page": "1000000001"}, "page"),
    ("/batches", {"page_size": HUGE}, "page_size"),
    ("/batches", {"page": "²"}, "page"),
    ("/inbounds", {"page": HUGE}, "page"),
    ("/inbounds", {"page_size": "-" + HUGE}, "page_size"),
    ("/delivery_reports", {"page": HUGE}, "page"),
    ("/delivery_reports", {"code": HUGE}, "code"),
    ("/delivery_reports", {"code": "2147483648"}, "code"),
    ("/delivery_reports", {"code": "-1"}, "code"),
    ("/groups", {"page": HUGE}, "page"),
    ("/groups", {"page_size": HUGE}, "page_size"),
    ("/batches/{batch}/delivery_report", {"code": HUGE}, "code"),
    ("/batches/{batch}/delivery_report", {"code": "0," + HUGE * 3}, "code"),
])
async def test_huge_integers_in_queries_are_400(api: ApiServer, xms: Xms, path: str, query: dict[str, str],
                                                named: str) -> None:
    sent = await xms.send()
    r = await xms.request("GET", path.format(batch=sent["id"]), params=query)
    assert r.status_code == 400, r.text
    assert r.json()["code"] in ("syntax_invalid_parameter_format", "syntax_constraint_violation")
    assert r.json()["text"].startswith(f"{named}:")
    # The largest page allowed is an empty page, not an error.
    last = await xms.request("GET", path.format(batch=sent["id"]), params={"page": "1000000000", "code": "2147483647"})
    assert last.status_code == 200, last.text


@pytest.mark.parametrize("number", [HUGE, "²", "-1", "1001"])
async def test_dry_run_number_of_recipients_is_checked(api: ApiServer, xms: Xms, number: str) -> None:
    r = await xms.request("POST", "/batches/dry_run", {"to": TO, "from": "Shop", "body": "x"},
                          params={"per_recipient": "true", "number_of_recipients": number})
    assert r.status_code == 400, r.text
    assert r.json()["text"].startswith("number_of_recipients:")
