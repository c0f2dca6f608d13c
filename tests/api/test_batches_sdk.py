"""XMS batches through the official Sinch SDK 2.3.0, in both auth modes, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from sinch.domains.sms.api.v1.exceptions import SmsException
from sinch.domains.sms.models.v1.response.dry_run_response import DryRunResponse
from sinch.domains.sms.models.v1.shared.text_response import TextResponse
from sqlalchemy import func, select

from tidings.api.testing import ApiServer, sdk_client
from tidings.store.schema import batches, deliveries

TO = ["+46700000001", "+46700000002"]


async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def rows(api: ApiServer, batch_id: str) -> list[Any]:
    async with api.ctx.db.read() as conn:
        return list(await conn.execute(
            select(deliveries).where(deliveries.c.batch_id == batch_id).order_by(deliveries.c.id)))


async def test_send_get_and_rows(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    client = sdk_client(auth_mode, api.base_url, creds)
    sent = await call(client.sms.batches.send_sms, to=TO + ["46700000001"], from_="+46700000000",
                      body="Hello ${name}", parameters={"name": {"+46700000001": "Ann", "default": "you"}},
                      delivery_report="full", event_destination_target="http://127.0.0.1:1/cb",
                      client_reference="ref1")
    assert isinstance(sent, TextResponse)
    assert sent.to == TO  # normalised and deduplicated
    assert sent.from_ == "+46700000000"
    assert sent.delivery_report == "full"
    assert sent.event_destination_target == "http://127.0.0.1:1/cb"
    assert sent.client_reference == "ref1"
    assert sent.canceled is False
    assert sent.created_at is not None and sent.created_at.tzinfo is not None
    got = await call(client.sms.batches.get, batch_id=sent.id)
    assert isinstance(got, TextResponse)
    assert got.id == sent.id and got.to == TO and got.body == "Hello ${name}"
    assert got.parameters == {"name": {"+46700000001": "Ann", "default": "you"}}
    delivered = await rows(api, sent.id)
    assert [(r.recipient, r.status, r.code, r.encoding, r.segments) for r in delivered] == [
        ("+46700000001", "Queued", 400, "GSM", 1), ("+46700000002", "Queued", 400, "GSM", 1)]
    assert all(r.published_ms is not None for r in delivered)
    assert await api.dispatch.backlog() == 2


async def batch_count(api: ApiServer) -> tuple[int, int]:
    async with api.ctx.db.read() as conn:
        nb = (await conn.execute(select(func.count()).select_from(batches))).scalar_one()
        nd = (await conn.execute(select(func.count()).select_from(deliveries))).scalar_one()
    return int(nb), int(nd)


async def test_list_pages_and_filters(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    other = await api.project("other")
    client = sdk_client(auth_mode, api.base_url, creds)
    ids = []
    for i in range(5):
        sender = "+46700000010" if i % 2 == 0 else "Shop"
        sent = await call(client.sms.batches.send_sms, to=[TO[0]], from_=sender, body=f"m{i}",
                          client_reference="even" if i % 2 == 0 else "odd")
        ids.append(sent.id)
        api.clock.advance(0.01)
    # Another project's batch never shows up.
    await call(sdk_client(auth_mode, api.base_url, other).sms.batches.send_sms, to=[TO[0]], from_="Shop", body="x")

    pager = await call(client.sms.batches.list, page_size=2)
    assert pager.result.count == 5
    seen = []
    for batch in await call(lambda: list(pager.iterator())):
        seen.append(batch.id)
    assert seen == list(reversed(ids))  # newest first, across three pages

    by_sender = await call(client.sms.batches.list, from_=["Shop"])
    assert sorted(b.id for b in by_sender.content()) == sorted(ids[1::2])
    both = await call(client.sms.batches.list, from_=["Shop", "+46700000010"])
    assert both.result.count == 5
    by_ref = await call(client.sms.batches.list, client_reference="even")
    assert sorted(b.id for b in by_ref.content()) == sorted(ids[0::2])
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    assert (await call(client.sms.batches.list, start_date=future)).result.count == 0
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    assert (await call(client.sms.batches.list, start_date=past, end_date=future)).result.count == 5
    assert (await call(client.sms.batches.list, end_date=past)).result.count == 0


async def test_cancel_only_touches_unsent_deliveries(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    client = sdk_client(auth_mode, api.base_url, creds)
    sent = await call(client.sms.batches.send_sms, to=TO, from_="Shop", body="hi")
    # One recipient is already taken by a worker.
    first = (await rows(api, sent.id))[0]
    async with api.ctx.db.write() as conn:
        from sqlalchemy import update
        await conn.execute(update(deliveries).where(deliveries.c.id == first.id).values(claimed_ms=api.clock()))
    cancelled = await call(client.sms.batches.cancel, batch_id=sent.id)
    assert isinstance(cancelled, TextResponse)
    assert cancelled.canceled is True
    after = await rows(api, sent.id)
    assert [(r.status, r.code) for r in after] == [("Queued", 400), ("Cancelled", 407)]
    assert (await call(client.sms.batches.get, batch_id=sent.id)).canceled is True


async def test_replace_before_sending_and_refused_after(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    client = sdk_client(auth_mode, api.base_url, creds)
    sent = await call(client.sms.batches.send_sms, to=TO, from_="Shop", body="old")
    replaced = await call(client.sms.batches.replace_sms, batch_id=sent.id, to=["+46700000003"],
                          from_="Shop2", body="new ☃")
    assert replaced.id == sent.id and replaced.to == ["+46700000003"] and replaced.body == "new ☃"
    got = await call(client.sms.batches.get, batch_id=sent.id)
    assert got.to == ["+46700000003"] and got.from_ == "Shop2"
    assert [(r.recipient, r.encoding) for r in await rows(api, sent.id)] == [("+46700000003", "UCS2")]
    async with api.ctx.db.write() as conn:
        from sqlalchemy import update
        await conn.execute(update(deliveries).where(deliveries.c.batch_id == sent.id)
                           .values(status="Dispatched", code=401))
    with pytest.raises(SmsException) as err:
        await call(client.sms.batches.replace_sms, batch_id=sent.id, to=TO, from_="Shop", body="again")
    assert err.value.response_status_code == 400
    assert [(r.recipient, r.status) for r in await rows(api, sent.id)] == [("+46700000003", "Dispatched")]


async def test_update_adds_removes_and_changes(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    client = sdk_client(auth_mode, api.base_url, creds)
    sent = await call(client.sms.batches.send_sms, to=TO, from_="Shop", body="hi")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    updated = await call(client.sms.batches.update_sms, batch_id=sent.id, to_add=["+46700000003"],
                         to_remove=["+46700000001"], body="x" * 200, delivery_report="summary",
                         send_at=later, client_reference="changed")
    assert isinstance(updated, TextResponse)
    assert updated.to == ["+46700000002", "+46700000003"]
    assert updated.body == "x" * 200 and updated.delivery_report == "summary"
    assert updated.client_reference == "changed"
    assert abs(updated.send_at.timestamp() - later.timestamp()) < 0.01
    after = await rows(api, sent.id)
    assert [(r.recipient, r.segments, r.published_ms) for r in after] == [
        ("+46700000002", 2, None), ("+46700000003", 2, None)]
    assert all(abs(r.due_ms - later.timestamp() * 1000) < 10 for r in after)


async def test_dry_run_counts_parts_per_recipient(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    client = sdk_client(auth_mode, api.base_url, creds)
    result = await call(client.sms.batches.dry_run_sms, to=TO + ["+46700000003"], from_="Shop",
                        body="Hi ${n}", parameters={"n": {"+46700000001": "€" * 160, "+46700000002": "😀",
                                                           "default": "x"}},
                        per_recipient=True, number_of_recipients=2)
    assert isinstance(result, DryRunResponse)
    assert result.number_of_recipients == 3
    # "Hi " + 160 euro signs = 3 + 320 septets: 3 parts; the emoji needs UCS-2: 1 part; "Hi x": 1.
    assert result.number_of_messages == 5
    assert [(p.recipient, p.number_of_parts, p.encoding) for p in result.per_recipient] == [
        ("+46700000001", 3, "GSM"), ("+46700000002", 1, "UNICODE")]
    assert result.per_recipient[1].body == "Hi 😀"
    assert await batch_count(api) == (0, 0)


async def test_oauth_token_expiry_is_refreshed_by_the_sdk(api: ApiServer) -> None:
    creds = await api.project()
    client = sdk_client("oauth", api.base_url, creds)
    first = await call(client.sms.batches.send_sms, to=TO, from_="Shop", body="one")
    old_token = client.configuration.token_manager.token.access_token
    api.clock.advance(api.ctx.settings.token_ttl_seconds + 1)
    got = await call(client.sms.batches.get, batch_id=first.id)
    assert got.id == first.id
    assert client.configuration.token_manager.token.access_token != old_token


async def test_wrong_credentials_are_refused(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    from dataclasses import replace
    bad = replace(creds, key_secret="wrong", api_token="0" * 32)
    client = sdk_client(auth_mode, api.base_url, bad)
    with pytest.raises(Exception) as err:
        await call(client.sms.batches.send_sms, to=TO, from_="Shop", body="x")
    assert getattr(err.value, "response_status_code", None) == 401
    assert await batch_count(api) == (0, 0)


async def test_another_projects_batch_is_not_found(api: ApiServer, auth_mode: str) -> None:
    owner = await api.project("owner")
    stranger = await api.project("stranger")
    sent = await call(sdk_client(auth_mode, api.base_url, owner).sms.batches.send_sms, to=TO, from_="Shop", body="x")
    client = sdk_client(auth_mode, api.base_url, stranger)
    for method, kwargs in (
        (client.sms.batches.get, {}),
        (client.sms.batches.cancel, {}),
        (client.sms.batches.update_sms, {"body": "mine now"}),
        (client.sms.batches.replace_sms, {"to": TO, "from_": "Shop", "body": "mine"}),
    ):
        with pytest.raises(SmsException) as err:
            await call(method, batch_id=sent.id, **kwargs)
        assert err.value.response_status_code == 404
        assert err.value.http_response.body["code"] == "not_found"
    got = await call(sdk_client(auth_mode, api.base_url, owner).sms.batches.get, batch_id=sent.id)
    assert got.body == "x" and got.canceled is False


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"to": ["+4670"]}, "to[0]"),
    ({"to": ["not a number"]}, "to[0]"),
    ({"to": []}, "to"),
    ({"to": [f"+467000{i:05d}" for i in range(1001)]}, "to"),
    ({"delivery_report": "sometimes"}, "delivery_report"),
    ({"expire_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}, "expire_at"),
    ({"body": ""}, "body"),
])
async def test_bad_input_is_an_xms_400_and_writes_nothing(api: ApiServer, auth_mode: str,
                                                          kwargs: dict[str, Any], field: str) -> None:
    creds = await api.project()
    client = sdk_client(auth_mode, api.base_url, creds)
    args = {"to": TO, "from_": "Shop", "body": "hi", **kwargs}
    with pytest.raises(SmsException) as err:
        await call(client.sms.batches.send_sms, **args)
    assert err.value.response_status_code == 400
    body = err.value.http_response.body
    assert set(body) == {"code", "text"}
    assert body["text"].startswith(f"{field}:")
    assert await batch_count(api) == (0, 0)
    assert await api.dispatch.backlog() == 0
