"""XMS `mt_binary` batches through the official Sinch SDK 2.3.0, in both auth modes, on SQLite and
PostgreSQL: send_binary, get, list, cancel, dry_run_binary, replace_binary, update_binary."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from typing import Any

import pytest
from sinch.domains.sms.api.v1.exceptions import SmsException
from sinch.domains.sms.models.v1.response.dry_run_response import DryRunResponse
from sinch.domains.sms.models.v1.shared.binary_response import BinaryResponse
from sinch.domains.sms.models.v1.shared.text_response import TextResponse
from sqlalchemy import func, select

from tidings.api.testing import ApiServer, sdk_client
from tidings.store.schema import batches, deliveries

TO = ["+46700000001", "+46700000002"]
PORTS = "06050415811581"  # UDHL 6, IE 0x05: 16-bit application ports 5505 → 5505
PAYLOAD = base64.b64encode(bytes([0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF]) + b"vcard").decode()


async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def delivery_rows(api: ApiServer, batch_id: str) -> list[Any]:
    async with api.ctx.db.read() as conn:
        return list(await conn.execute(
            select(deliveries).where(deliveries.c.batch_id == batch_id).order_by(deliveries.c.id)))


async def batch_row(api: ApiServer, batch_id: str) -> Any:
    async with api.ctx.db.read() as conn:
        return (await conn.execute(select(batches).where(batches.c.id == batch_id))).one()


async def test_send_binary_get_list_and_cancel(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    client = sdk_client(auth_mode, api.base_url, creds)
    sent = await call(client.sms.batches.send_binary, to=TO + ["46700000001"], from_="+46700000000", body=PAYLOAD,
                      udh=PORTS, delivery_report="per_recipient", event_destination_target="http://127.0.0.1:1/cb",
                      client_reference="bin-1", feedback_enabled=True, purpose="security")
    assert isinstance(sent, BinaryResponse)
    assert sent.type == "mt_binary"
    assert (sent.to, sent.from_, sent.body, sent.udh) == (TO, "+46700000000", PAYLOAD, PORTS)
    assert (sent.delivery_report, sent.event_destination_target, sent.client_reference) == (
        "per_recipient", "http://127.0.0.1:1/cb", "bin-1")
    assert sent.feedback_enabled is True and sent.canceled is False
    assert sent.created_at is not None and sent.expire_at is not None

    got = await call(client.sms.batches.get, batch_id=sent.id)
    assert isinstance(got, BinaryResponse)
    assert (got.id, got.to, got.body, got.udh, got.type) == (sent.id, TO, PAYLOAD, PORTS, "mt_binary")
    row = await batch_row(api, sent.id)
    assert (row.type, row.body, row.udh, row.purpose) == ("mt_binary", PAYLOAD, PORTS, "security")
    assert [(r.recipient, r.status, r.encoding, r.segments) for r in await delivery_rows(api, sent.id)] == [
        ("+46700000001", "Queued", "BINARY", 1), ("+46700000002", "Queued", "BINARY", 1)]
    assert await api.dispatch.backlog() == 2

    text = await call(client.sms.batches.send_sms, to=TO, from_="Shop", body="and a text")
    page = await call(client.sms.batches.list, page_size=10)
    listed = {b.id: b for b in page.content()}
    assert isinstance(listed[sent.id], BinaryResponse) and listed[sent.id].udh == PORTS
    assert isinstance(listed[text.id], TextResponse)

    cancelled = await call(client.sms.batches.cancel, batch_id=sent.id)
    assert isinstance(cancelled, BinaryResponse)
    assert cancelled.canceled is True and cancelled.udh == PORTS
    assert {r.status for r in await delivery_rows(api, sent.id)} == {"Cancelled"}


async def test_send_binary_without_a_header(api: ApiServer, auth_mode: str) -> None:
    client = sdk_client(auth_mode, api.base_url, await api.project())
    sent = await call(client.sms.batches.send_binary, to=TO[:1], from_="Shop", body=PAYLOAD, udh="")
    assert isinstance(sent, BinaryResponse)
    assert sent.udh == ""
    assert (await batch_row(api, sent.id)).udh is None


async def test_dry_run_binary(api: ApiServer, auth_mode: str) -> None:
    client = sdk_client(auth_mode, api.base_url, await api.project())
    result = await call(client.sms.batches.dry_run_binary, to=TO + ["+46700000003"], from_="Shop", body=PAYLOAD,
                        udh=PORTS, per_recipient=True, number_of_recipients=2)
    assert isinstance(result, DryRunResponse)
    assert (result.number_of_recipients, result.number_of_messages) == (3, 3)
    assert [(p.recipient, p.number_of_parts, p.encoding, p.body) for p in result.per_recipient] == [
        ("+46700000001", 1, "BINARY", PAYLOAD), ("+46700000002", 1, "BINARY", PAYLOAD)]
    async with api.ctx.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(batches))).scalar_one() == 0


async def test_replace_binary_and_switch_kinds(api: ApiServer, auth_mode: str) -> None:
    client = sdk_client(auth_mode, api.base_url, await api.project())
    sent = await call(client.sms.batches.send_sms, to=TO, from_="Shop", body="a text at first",
                      send_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    other = base64.b64encode(b"\x01\x02\x03").decode()
    replaced = await call(client.sms.batches.replace_binary, batch_id=sent.id, to=["+46700000003"], from_="Shop",
                          body=other, udh="050003420201")
    assert isinstance(replaced, BinaryResponse)
    assert (replaced.id, replaced.to, replaced.body, replaced.udh) == (sent.id, ["+46700000003"], other, "050003420201")
    assert [(r.recipient, r.encoding, r.segments) for r in await delivery_rows(api, sent.id)] == [
        ("+46700000003", "BINARY", 1)]
    assert isinstance(await call(client.sms.batches.get, batch_id=sent.id), BinaryResponse)

    back = await call(client.sms.batches.replace_sms, batch_id=sent.id, to=TO, from_="Shop", body="text again")
    assert isinstance(back, TextResponse) and back.body == "text again"
    row = await batch_row(api, sent.id)
    assert (row.type, row.udh) == ("mt_text", None)
    assert [r.encoding for r in await delivery_rows(api, sent.id)] == ["GSM", "GSM"]


async def test_update_binary(api: ApiServer, auth_mode: str) -> None:
    client = sdk_client(auth_mode, api.base_url, await api.project())
    sent = await call(client.sms.batches.send_binary, to=TO, from_="Shop", body=PAYLOAD, udh=PORTS)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    other = base64.b64encode(b"\xca\xfe").decode()
    updated = await call(client.sms.batches.update_binary, batch_id=sent.id, udh="0b0504158115810003aa0201",
                         body=other, to_add=["+46700000003"], to_remove=["+46700000001"], send_at=later,
                         client_reference="changed", delivery_report="full")
    assert isinstance(updated, BinaryResponse)
    assert (updated.to, updated.body, updated.udh) == (["+46700000002", "+46700000003"], other,
                                                       "0b0504158115810003aa0201")
    assert (updated.client_reference, updated.delivery_report) == ("changed", "full")
    assert abs(updated.send_at.timestamp() - later.timestamp()) < 0.01
    assert [(r.recipient, r.encoding, r.segments, r.published_ms) for r in await delivery_rows(api, sent.id)] == [
        ("+46700000002", "BINARY", 1, None), ("+46700000003", "BINARY", 1, None)]

    # Too long together, and a type switch by update: 400, nothing changes.
    with pytest.raises(SmsException) as too_long:
        await call(client.sms.batches.update_binary, batch_id=sent.id, udh=PORTS,
                   body=base64.b64encode(b"\x00" * 134).decode())
    assert too_long.value.response_status_code == 400
    assert too_long.value.http_response.body["text"] == "body: body and udh together are 141 octets, at most 140"
    with pytest.raises(SmsException) as switched:
        await call(client.sms.batches.update_sms, batch_id=sent.id, body="now text")
    assert switched.value.response_status_code == 400
    assert switched.value.http_response.body["text"].startswith("type: the batch is mt_binary")
    assert (await batch_row(api, sent.id)).body == other

    text = await call(client.sms.batches.send_sms, to=TO, from_="Shop", body="text")
    with pytest.raises(SmsException) as to_binary:
        await call(client.sms.batches.update_binary, batch_id=text.id, udh=PORTS, body=PAYLOAD)
    assert to_binary.value.response_status_code == 400
    assert to_binary.value.http_response.body["text"].startswith("type: the batch is mt_text")


async def test_bad_binary_input_is_a_400_naming_the_field(api: ApiServer, auth_mode: str) -> None:
    client = sdk_client(auth_mode, api.base_url, await api.project())
    cases = [
        ({"body": PAYLOAD, "udh": "07050415811581"},
         "udh: the first octet (UDHL, 7) must count the octets after it (6)"),
        ({"body": "AAE", "udh": PORTS}, "body: must be standard Base64"),
        ({"body": base64.b64encode(b"\x00" * 134).decode(), "udh": PORTS},
         "body: body and udh together are 141 octets, at most 140"),
        ({"body": PAYLOAD, "udh": PORTS, "flash_message": True}, "flash_message: unknown field"),
    ]
    for fields, text in cases:
        with pytest.raises(SmsException) as caught:
            await call(client.sms.batches.send_binary, to=TO, from_="Shop", **fields)
        assert caught.value.response_status_code == 400
        assert caught.value.http_response.body["text"].startswith(text)
    async with api.ctx.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(batches))).scalar_one() == 0
