"""XMS inbounds through the official Sinch SDK (both auth modes) and raw HTTP: get by id, the
paged list and its filters, the derived client reference, project isolation and parameter
errors. Rows are written straight to the store; the pipeline is not involved."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest
from sinch.domains.sms.api.v1.exceptions import SmsException
from sinch.domains.sms.models.v1.shared.mo_binary_message import MOBinaryMessage
from sinch.domains.sms.models.v1.shared.mo_text_message import MOTextMessage
from sqlalchemy import insert

from tidings.actions.projects import ProjectCredentials
from tidings.api.testing import ApiServer, sdk_client
from tidings.core.ids import ulid
from tidings.store.db import Database
from tidings.store.schema import batches, deliveries, inbounds

HOUR_MS = 3600 * 1000
MINUTE_MS = 60_000
OURS = "+46700000001"
HANDSET = "+46701234567"


def utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


async def add_inbound(
    db: Database, project_id: str | None, *, sender: str = HANDSET, to: str = OURS, body: str = "hi",
    received_ms: int, kind: str = "mo_text", udh: str | None = None,
) -> str:
    inbound_id = ulid()
    async with db.write() as conn:
        await conn.execute(insert(inbounds).values(
            id=inbound_id, project_id=project_id, type=kind, sender=sender, recipient=to, body=body,
            received_ms=received_ms, connection="sandbox", smsc_message_id=inbound_id, udh=udh,
        ))
    return inbound_id


async def add_sent_batch(
    db: Database, project_id: str, *, sender: str, to: str, client_reference: str | None, created_ms: int
) -> None:
    batch_id = ulid()
    async with db.write() as conn:
        await conn.execute(insert(batches).values(
            id=batch_id, project_id=project_id, type="mt_text", sender=sender, body="hello",
            delivery_report="none", client_reference=client_reference, expire_at_ms=created_ms + 72 * HOUR_MS,
            recipient_count=1, created_ms=created_ms, modified_ms=created_ms,
            flash_message=False, feedback_enabled=False, canceled=False,
        ))
        await conn.execute(insert(deliveries).values(
            batch_id=batch_id, project_id=project_id, recipient=to, status="Delivered", code=0,
            due_ms=created_ms, status_ms=created_ms, created_ms=created_ms, attempts=0,
        ))


async def test_get_inbound_through_the_sdk(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    now = api.clock()
    inbound_id = await add_inbound(api.ctx.db, creds.project_id, body="Hej då 👋 — ünïcode", received_ms=now - 1234)
    sms = sdk_client(auth_mode, api.base_url, creds).sms

    message = await asyncio.to_thread(sms.inbounds.get, inbound_id)
    assert isinstance(message, MOTextMessage)
    assert message.type == "mo_text"
    assert (message.id, message.from_, message.to) == (inbound_id, HANDSET, OURS)
    assert message.body == "Hej då 👋 — ünïcode"
    assert message.received_at == utc(now - 1234)
    assert message.client_reference is None

    with pytest.raises(SmsException) as caught:
        await asyncio.to_thread(sms.inbounds.get, "01NOSUCHINBOUND0000000000")
    assert caught.value.response_status_code == 404
    assert caught.value.http_response.body["code"] == "not_found"


async def test_inbound_wire_shape(api: ApiServer) -> None:
    creds = await api.project()
    now = api.clock()
    received = now - now % 1000 + 42
    inbound_id = await add_inbound(api.ctx.db, creds.project_id, body="STOP", received_ms=received)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {creds.api_token}"}) as http:
        r = await http.get(api.xms_url(creds.service_plan_id, f"/inbounds/{inbound_id}"))
    assert r.status_code == 200
    assert r.json() == {
        "type": "mo_text", "id": inbound_id, "from": HANDSET, "to": OURS, "body": "STOP",
        "received_at": utc(received).strftime("%Y-%m-%dT%H:%M:%S.042Z"),
    }


async def test_binary_inbounds_are_mo_binary_messages(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    now = api.clock()
    received = now - now % 1000 + 7
    ports = await add_inbound(api.ctx.db, creds.project_id, body="ABt/gP8=", udh="06050415811581",
                              kind="mo_binary", received_ms=received)
    bare = await add_inbound(api.ctx.db, creds.project_id, body="AAE=", kind="mo_binary", received_ms=received + 1)
    text = await add_inbound(api.ctx.db, creds.project_id, body="and text", received_ms=received + 2)
    sms = sdk_client(auth_mode, api.base_url, creds).sms

    message = await asyncio.to_thread(sms.inbounds.get, ports)
    assert isinstance(message, MOBinaryMessage)
    assert (message.type, message.id, message.from_, message.to, message.body, message.udh) == (
        "mo_binary", ports, HANDSET, OURS, "ABt/gP8=", "06050415811581")
    assert message.received_at == utc(received)
    listed = (await asyncio.to_thread(sms.inbounds.list)).content()
    assert [(type(m), m.id) for m in listed] == [
        (MOTextMessage, text), (MOBinaryMessage, bare), (MOBinaryMessage, ports)]
    assert listed[1].udh == ""

    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {creds.api_token}"}) as http:
        r = await http.get(api.xms_url(creds.service_plan_id, f"/inbounds/{ports}"))
    assert r.json() == {
        "type": "mo_binary", "id": ports, "from": HANDSET, "to": OURS, "body": "ABt/gP8=", "udh": "06050415811581",
        "received_at": utc(received).strftime("%Y-%m-%dT%H:%M:%S.007Z"),
    }


async def test_client_reference_is_that_of_the_batch_the_handset_answers(api: ApiServer, auth_mode: str) -> None:
    creds, other = await api.project("a"), await api.project("b")
    now = api.clock()
    db = api.ctx.db
    # Older and newer batches to the handset from our number: the latest before the reply counts.
    await add_sent_batch(db, creds.project_id, sender=OURS, to=HANDSET, client_reference="first", created_ms=now - HOUR_MS)
    await add_sent_batch(db, creds.project_id, sender=OURS.lstrip("+"), to=HANDSET.lstrip("+"),
                         client_reference="second", created_ms=now - 30 * MINUTE_MS)
    await add_sent_batch(db, creds.project_id, sender=OURS, to=HANDSET, client_reference="later",
                         created_ms=now - MINUTE_MS)
    # Not from this number, not to this handset, or another project's: never counted.
    await add_sent_batch(db, creds.project_id, sender="+46700000099", to=HANDSET, client_reference="x1",
                         created_ms=now - 20 * MINUTE_MS)
    await add_sent_batch(db, creds.project_id, sender=OURS, to="+46709999999", client_reference="x2",
                         created_ms=now - 20 * MINUTE_MS)
    await add_sent_batch(db, other.project_id, sender=OURS, to=HANDSET, client_reference="x3",
                         created_ms=now - 20 * MINUTE_MS)
    reply = await add_inbound(db, creds.project_id, received_ms=now - 10 * MINUTE_MS)
    unrelated = await add_inbound(db, creds.project_id, sender="+46708888888", received_ms=now - 5 * MINUTE_MS)
    sms = sdk_client(auth_mode, api.base_url, creds).sms

    assert (await asyncio.to_thread(sms.inbounds.get, reply)).client_reference == "second"
    assert (await asyncio.to_thread(sms.inbounds.get, unrelated)).client_reference is None
    listed = await asyncio.to_thread(sms.inbounds.list, client_reference="second")
    assert [m.id for m in listed.content()] == [reply]
    assert (await asyncio.to_thread(sms.inbounds.list, client_reference="x3")).content() == []


async def test_client_reference_is_none_when_the_batch_answered_has_none(api: ApiServer, auth_mode: str) -> None:
    """The reply answers the latest message to the handset from that number: when that batch has
    no reference, an older batch's reference is not the reply's."""
    creds = await api.project()
    now = api.clock()
    db = api.ctx.db
    await add_sent_batch(db, creds.project_id, sender=OURS, to=HANDSET, client_reference="older",
                         created_ms=now - HOUR_MS)
    await add_sent_batch(db, creds.project_id, sender=OURS.lstrip("+"), to=HANDSET, client_reference=None,
                         created_ms=now - 30 * MINUTE_MS)
    reply = await add_inbound(db, creds.project_id, received_ms=now - 10 * MINUTE_MS)
    sms = sdk_client(auth_mode, api.base_url, creds).sms
    assert (await asyncio.to_thread(sms.inbounds.get, reply)).client_reference is None
    assert (await asyncio.to_thread(sms.inbounds.list, client_reference="older")).content() == []
    # A newer batch with a reference, before the next reply, is that reply's.
    await add_sent_batch(db, creds.project_id, sender=OURS, to=HANDSET, client_reference="newest",
                         created_ms=now - 5 * MINUTE_MS)
    again = await add_inbound(db, creds.project_id, received_ms=now - MINUTE_MS)
    listed = await asyncio.to_thread(sms.inbounds.list, client_reference="newest")
    assert [m.id for m in listed.content()] == [again]
    assert (await asyncio.to_thread(sms.inbounds.get, reply)).client_reference is None


async def seed_list(api: ApiServer, creds: ProjectCredentials, other: ProjectCredentials) -> tuple[int, list[str]]:
    """Five inbounds for `creds` in the last hour (to two numbers), one 30 hours old, one for
    `other`, one unrouted. Returns now and the five recent ids, newest first."""
    now = api.clock()
    db = api.ctx.db
    recent = []
    for i in range(5):
        to = OURS if i % 2 == 0 else "46700000002"
        recent.append(await add_inbound(db, creds.project_id, to=to, body=f"m{i}", received_ms=now - (i + 1) * MINUTE_MS))
    await add_inbound(db, creds.project_id, body="old", received_ms=now - 30 * HOUR_MS)
    await add_inbound(db, other.project_id, body="theirs", received_ms=now - MINUTE_MS)
    await add_inbound(db, None, body="nobody's", received_ms=now - MINUTE_MS)
    return now, recent


async def test_list_pages_newest_first(api: ApiServer, auth_mode: str) -> None:
    creds, other = await api.project("a"), await api.project("b")
    _, recent = await seed_list(api, creds, other)
    sms = sdk_client(auth_mode, api.base_url, creds).sms

    first = await asyncio.to_thread(sms.inbounds.list, page_size=2)
    assert (first.result.count, first.result.page, first.result.page_size) == (5, 0, 2)
    everything = await asyncio.to_thread(lambda: list(first.iterator()))
    assert [m.id for m in everything] == recent
    assert [m.body for m in everything] == ["m0", "m1", "m2", "m3", "m4"]

    last = await asyncio.to_thread(sms.inbounds.list, page=2, page_size=2)
    assert (last.result.page, last.result.page_size, [m.id for m in last.content()]) == (2, 1, recent[4:])


async def test_list_filters(api: ApiServer, auth_mode: str) -> None:
    creds, other = await api.project("a"), await api.project("b")
    now, _recent = await seed_list(api, creds, other)
    sms = sdk_client(auth_mode, api.base_url, creds).sms

    async def bodies(**filters: object) -> list[str]:
        paginator = await asyncio.to_thread(sms.inbounds.list, page_size=100, **filters)
        return [m.body for m in paginator.content()]

    assert await bodies(to=[OURS]) == ["m0", "m2", "m4"]
    assert await bodies(to=["+46700000002"]) == ["m1", "m3"]  # stored without "+", asked with
    assert await bodies(to=[OURS.lstrip("+"), "+46700000002"]) == ["m0", "m1", "m2", "m3", "m4"]
    assert await bodies(to=["+46700000077"]) == []
    assert await bodies(start_date=utc(now - 48 * HOUR_MS)) == ["m0", "m1", "m2", "m3", "m4", "old"]
    assert await bodies(start_date=utc(now - 3 * MINUTE_MS)) == ["m0", "m1", "m2"]
    assert await bodies(start_date=utc(now - 48 * HOUR_MS), end_date=utc(now - 2 * MINUTE_MS)) == [
        "m2", "m3", "m4", "old"]


async def test_another_projects_inbound_is_not_found(api: ApiServer, auth_mode: str) -> None:
    owner, intruder = await api.project("owner"), await api.project("intruder")
    inbound_id = await add_inbound(api.ctx.db, owner.project_id, received_ms=api.clock())
    unrouted = await add_inbound(api.ctx.db, None, received_ms=api.clock())
    sms = sdk_client(auth_mode, api.base_url, intruder).sms
    for target in (inbound_id, unrouted):
        with pytest.raises(SmsException) as caught:
            await asyncio.to_thread(sms.inbounds.get, target)
        assert caught.value.response_status_code == 404
    assert (await asyncio.to_thread(sms.inbounds.list)).result.count == 0


@pytest.mark.parametrize(("query", "named"), [
    ({"page": "-3"}, "page"),
    ({"page": "1.5"}, "page"),
    ({"page_size": "0"}, "page_size"),
    ({"page_size": "1000"}, "page_size"),
    ({"start_date": "not-a-date"}, "start_date"),
    ({"end_date": "2024-05-01T25:00:00Z"}, "end_date"),
])
async def test_bad_parameters_are_xms_400(api: ApiServer, query: dict[str, str], named: str) -> None:
    creds = await api.project()
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {creds.api_token}"}) as http:
        r = await http.get(api.xms_url(creds.service_plan_id, "/inbounds"), params=query)
    assert r.status_code == 400
    body = r.json()
    assert body["code"] in ("syntax_invalid_parameter_format", "syntax_constraint_violation")
    assert body["text"].startswith(f"{named}:")


async def test_inbounds_need_credentials(api: ApiServer) -> None:
    creds = await api.project()
    inbound_id = await add_inbound(api.ctx.db, creds.project_id, received_ms=api.clock())
    async with httpx.AsyncClient() as http:
        r = await http.get(api.xms_url(creds.service_plan_id, f"/inbounds/{inbound_id}"))
        assert r.status_code == 401
        r = await http.get(api.xms_url(creds.project_id, "/inbounds"), headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401
