"""XMS delivery feedback: the official SDK's `send_delivery_feedback` in both auth modes, each
recipient confirmed once and counted by its route, and bad requests refused in XMS's error
format with nothing recorded."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sinch.domains.sms.api.v1.exceptions import SmsException
from sqlalchemy import select, update

from tidings.api.testing import ApiServer, sdk_client
from tidings.observability.metrics import DELIVERY_FEEDBACK
from tidings.store.schema import deliveries

TO = ["+46700000001", "+46700000002", "+46700000003"]


async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def feedback(api: ApiServer, batch_id: str) -> dict[str, int | None]:
    async with api.ctx.db.read() as conn:
        rows = await conn.execute(select(deliveries.c.recipient, deliveries.c.feedback_ms)
                                  .where(deliveries.c.batch_id == batch_id))
        return {r[0]: r[1] for r in rows}


async def carried_by(api: ApiServer, batch_id: str, route: str) -> None:
    async with api.ctx.db.write() as conn:
        await conn.execute(update(deliveries).where(deliveries.c.batch_id == batch_id).values(connection=route))


def counted(route: str) -> float:
    return DELIVERY_FEEDBACK.labels(route)._value.get()


async def test_the_sdk_confirms_recipients_once_each(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    client = sdk_client(auth_mode, api.base_url, creds)
    sent = await call(client.sms.batches.send_sms, to=TO, from_="Shop", body="Your code is 1234",
                      feedback_enabled=True)
    route = f"route-{auth_mode}"
    await carried_by(api, sent.id, route)
    before = counted(route)

    asked = api.clock()
    assert await call(client.sms.batches.send_delivery_feedback, batch_id=sent.id,
                      recipients=["46700000002"]) is None
    first = await feedback(api, sent.id)
    assert asked <= (first["+46700000002"] or 0) <= api.clock()
    assert first["+46700000001"] is None and first["+46700000003"] is None
    assert counted(route) == before + 1

    # Again for the same recipient, then for every recipient ([]): each is confirmed once.
    api.clock.advance(5)
    asked = api.clock()
    await call(client.sms.batches.send_delivery_feedback, batch_id=sent.id, recipients=["+46700000002"])
    await call(client.sms.batches.send_delivery_feedback, batch_id=sent.id, recipients=[])
    after = await feedback(api, sent.id)
    assert after["+46700000002"] == first["+46700000002"]
    assert asked <= (after["+46700000001"] or 0) <= api.clock()
    assert after["+46700000003"] == after["+46700000001"]
    assert counted(route) == before + 3


async def test_a_batch_without_feedback_enabled_or_of_another_project_is_refused(
        api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    other = await api.project("other")
    client = sdk_client(auth_mode, api.base_url, creds)
    plain = await call(client.sms.batches.send_sms, to=TO, from_="Shop", body="hi")
    theirs = await call(sdk_client(auth_mode, api.base_url, other).sms.batches.send_sms, to=TO, from_="Shop",
                        body="hi", feedback_enabled=True)

    with pytest.raises(SmsException) as not_enabled:
        await call(client.sms.batches.send_delivery_feedback, batch_id=plain.id, recipients=[])
    assert not_enabled.value.http_response.status_code == 400
    with pytest.raises(SmsException) as not_found:
        await call(client.sms.batches.send_delivery_feedback, batch_id=theirs.id, recipients=[])
    assert not_found.value.http_response.status_code == 404
    assert set((await feedback(api, plain.id)).values()) == {None}
    assert set((await feedback(api, theirs.id)).values()) == {None}


async def test_bad_requests_are_xms_errors_and_record_nothing(api: ApiServer) -> None:
    creds = await api.project()
    headers = {"Authorization": f"Bearer {creds.api_token}"}
    async with httpx.AsyncClient() as http:
        sent = await http.post(api.xms_url(creds.service_plan_id, "/batches"), headers=headers,
                               json={"to": TO, "from": "Shop", "body": "hi", "feedback_enabled": True})
        url = api.xms_url(creds.service_plan_id, f"/batches/{sent.json()['id']}/delivery_feedback")
        missing = await http.post(url, headers=headers, json={})
        unknown = await http.post(url, headers=headers, json={"recipients": [], "colour": "red"})
        mistyped = await http.post(url, headers=headers, json={"recipients": "+46700000001"})
        invalid_number = await http.post(url, headers=headers, json={"recipients": ["+4670000000x"]})
        stranger = await http.post(url, headers=headers, json={"recipients": ["+46700000001", "+46700000009"]})
        not_json = await http.post(url, headers={**headers, "Content-Type": "application/json"}, content=b"{nope")
        no_auth = await http.post(url, json={"recipients": []})
        no_batch = await http.post(api.xms_url(creds.service_plan_id, "/batches/01NOSUCHBATCH/delivery_feedback"),
                                   headers=headers, json={"recipients": []})
    assert missing.json()["code"] == "syntax_constraint_violation" and missing.json()["text"].startswith("recipients:")
    assert unknown.json()["text"].startswith("colour:")
    assert mistyped.json()["code"] == "syntax_invalid_parameter_format"
    assert invalid_number.json()["text"].startswith("recipients[0]:")
    assert stranger.json()["text"] == f"recipients: not recipients of batch {sent.json()['id']}: +46700000009"
    assert not_json.json()["code"] == "syntax_invalid_json"
    for r in (missing, unknown, mistyped, invalid_number, stranger, not_json):
        assert r.status_code == 400, r.text
    assert no_auth.status_code == 401
    assert (no_batch.status_code, no_batch.json()["code"]) == (404, "not_found")
    assert set((await feedback(api, sent.json()["id"])).values()) == {None}  # the known one was not kept either
