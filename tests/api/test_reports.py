"""XMS delivery reports through the official Sinch SDK (both auth modes) and raw HTTP: batch
summary/full reports with filters, one recipient's report, the paged list, project isolation and
parameter errors. Rows are written straight to the store; the pipeline is not involved."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

import httpx
import pytest
from sinch.domains.sms.api.v1.exceptions import SmsException
from sinch.domains.sms.models.v1.response import (
    BatchDeliveryReport,
    RecipientDeliveryReport,
)
from sqlalchemy import insert

from tidings.actions.projects import ProjectCredentials
from tidings.api.testing import ApiServer, sdk_client
from tidings.core.ids import ulid
from tidings.store.db import Database
from tidings.store.schema import batches, deliveries

HOUR_MS = 3600 * 1000


@dataclass(frozen=True)
class Row:
    recipient: str
    status: str
    code: int
    at_ms: int
    encoding: str | None = "GSM"
    segments: int | None = 1


async def add_batch(
    db: Database, project_id: str, rows: list[Row], *, created_ms: int, client_reference: str | None = None
) -> str:
    batch_id = ulid()
    async with db.write() as conn:
        await conn.execute(insert(batches).values(
            id=batch_id, project_id=project_id, type="mt_text", sender="+46700000001", body="hello",
            delivery_report="none", client_reference=client_reference, expire_at_ms=created_ms + 72 * HOUR_MS,
            recipient_count=len(rows), created_ms=created_ms, modified_ms=created_ms,
            flash_message=False, feedback_enabled=False, canceled=False,
        ))
        await conn.execute(insert(deliveries), [
            {"batch_id": batch_id, "project_id": project_id, "recipient": r.recipient, "status": r.status,
             "code": r.code, "encoding": r.encoding, "segments": r.segments, "due_ms": created_ms,
             "status_ms": r.at_ms, "created_ms": created_ms, "attempts": 0}
            for r in rows
        ])
    return batch_id


def utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


async def four_recipient_batch(api: ApiServer, creds: ProjectCredentials) -> tuple[str, int]:
    now = api.clock()
    batch_id = await add_batch(api.ctx.db, creds.project_id, [
        Row("+46701000001", "Delivered", 0, now - 1000),
        Row("+46701000002", "Failed", 404, now - 900),
        Row("+46701000003", "Delivered", 0, now - 800, encoding="UCS2", segments=2),
        Row("+46701000004", "Queued", 400, now - 5000),
    ], created_ms=now - 5000, client_reference="order-17")
    return batch_id, now


async def test_batch_report_summary_and_full_through_the_sdk(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    batch_id, _ = await four_recipient_batch(api, creds)
    sms = sdk_client(auth_mode, api.base_url, creds).sms

    summary = await asyncio.to_thread(sms.delivery_reports.get, batch_id, report_type="summary")
    assert isinstance(summary, BatchDeliveryReport)
    assert summary.type == "delivery_report_sms"
    assert summary.batch_id == batch_id
    assert summary.total_message_count == 4
    assert summary.client_reference == "order-17"
    assert [(s.status, s.code, s.count, s.recipients) for s in summary.statuses] == [
        ("Delivered", 0, 2, None), ("Failed", 404, 1, None), ("Queued", 400, 1, None),
    ]

    full = await asyncio.to_thread(sms.delivery_reports.get, batch_id, report_type="full")
    assert [(s.status, s.code, s.count, s.recipients) for s in full.statuses] == [
        ("Delivered", 0, 2, ["+46701000001", "+46701000003"]),
        ("Failed", 404, 1, ["+46701000002"]),
        ("Queued", 400, 1, ["+46701000004"]),
    ]

    default = await asyncio.to_thread(sms.delivery_reports.get, batch_id)
    assert [s.recipients for s in default.statuses] == [None, None, None]  # summary by default


async def test_batch_report_filters_by_status_and_code(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    batch_id, _ = await four_recipient_batch(api, creds)
    sms = sdk_client(auth_mode, api.base_url, creds).sms

    by_status = await asyncio.to_thread(
        sms.delivery_reports.get, batch_id, report_type="full", status=["DELIVERED", "Failed"])
    assert [(s.status, s.count) for s in by_status.statuses] == [("Delivered", 2), ("Failed", 1)]
    assert by_status.total_message_count == 4  # the batch's size, not the filtered count

    by_code = await asyncio.to_thread(sms.delivery_reports.get, batch_id, code=[404, 400])
    assert [(s.status, s.code) for s in by_code.statuses] == [("Failed", 404), ("Queued", 400)]

    both = await asyncio.to_thread(sms.delivery_reports.get, batch_id, status=["Delivered"], code=[404])
    assert both.statuses == []

    matching_ref = await asyncio.to_thread(sms.delivery_reports.get, batch_id, client_reference="order-17")
    assert matching_ref.batch_id == batch_id
    with pytest.raises(SmsException) as caught:
        await asyncio.to_thread(sms.delivery_reports.get, batch_id, client_reference="other")
    assert caught.value.response_status_code == 404


async def test_recipient_report_with_or_without_plus(api: ApiServer, auth_mode: str) -> None:
    creds = await api.project()
    batch_id, now = await four_recipient_batch(api, creds)
    sms = sdk_client(auth_mode, api.base_url, creds).sms

    for asked in ("+46701000003", "46701000003"):
        report = await asyncio.to_thread(sms.delivery_reports.get_for_number, batch_id, asked)
        assert isinstance(report, RecipientDeliveryReport)
        assert report.type == "recipient_delivery_report_sms"
        assert (report.batch_id, report.recipient) == (batch_id, "+46701000003")
        assert (report.status, report.code) == ("Delivered", 0)
        assert report.at == utc(now - 800)
        assert report.encoding == "UNICODE"
        assert report.number_of_message_parts == 2
        assert report.client_reference == "order-17"

    queued = await asyncio.to_thread(sms.delivery_reports.get_for_number, batch_id, "+46701000004")
    assert (queued.status, queued.code, queued.encoding) == ("Queued", 400, "GSM")

    with pytest.raises(SmsException) as caught:
        await asyncio.to_thread(sms.delivery_reports.get_for_number, batch_id, "+46709999999")
    assert caught.value.response_status_code == 404


async def test_recipient_report_wire_shape(api: ApiServer) -> None:
    creds = await api.project()
    now = api.clock()
    at_ms = now - now % 1000 + 7  # a known millisecond part
    batch_id = await add_batch(api.ctx.db, creds.project_id, [
        Row("+46701000009", "Failed", 404, at_ms, encoding=None, segments=None)], created_ms=at_ms)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {creds.api_token}"}) as http:
        r = await http.get(api.xms_url(creds.service_plan_id, f"/batches/{batch_id}/delivery_report/46701000009"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {
        "type": "recipient_delivery_report_sms", "batch_id": batch_id, "recipient": "+46701000009",
        "code": 404, "status": "Failed", "at": utc(at_ms).strftime("%Y-%m-%dT%H:%M:%S.007Z"),
    }


async def seed_list(api: ApiServer, creds: ProjectCredentials, other: ProjectCredentials) -> int:
    """Project `creds`: batch r1 (5 Delivered, 1..5 minutes ago), batch r2 (2 Failed, 2 hours
    ago), one Delivered 30 hours ago. Project `other`: one Delivered a minute ago."""
    now = api.clock()
    minute = 60_000
    await add_batch(api.ctx.db, creds.project_id, [
        Row(f"+4670200000{i}", "Delivered", 0, now - i * minute) for i in range(1, 6)
    ], created_ms=now - 10 * minute, client_reference="r1")
    await add_batch(api.ctx.db, creds.project_id, [
        Row(f"+4670300000{i}", "Failed", 402 + i, now - 2 * HOUR_MS - i) for i in range(2)
    ], created_ms=now - 3 * HOUR_MS, client_reference="r2")
    await add_batch(api.ctx.db, creds.project_id, [Row("+46704000000", "Delivered", 0, now - 30 * HOUR_MS)],
                    created_ms=now - 31 * HOUR_MS)
    await add_batch(api.ctx.db, other.project_id, [Row("+46705000000", "Delivered", 0, now - minute)],
                    created_ms=now - minute)
    return now


async def test_list_pages_through_the_last_day_newest_first(api: ApiServer, auth_mode: str) -> None:
    creds, other = await api.project("a"), await api.project("b")
    await seed_list(api, creds, other)
    sms = sdk_client(auth_mode, api.base_url, creds).sms

    first = await asyncio.to_thread(sms.delivery_reports.list, page_size=3)
    assert (first.result.count, first.result.page, first.result.page_size) == (7, 0, 3)
    everything = await asyncio.to_thread(lambda: list(first.iterator()))
    assert [r.recipient for r in everything] == [
        "+46702000001", "+46702000002", "+46702000003", "+46702000004", "+46702000005",
        "+46703000000", "+46703000001",
    ]
    assert {r.type for r in everything} == {"recipient_delivery_report_sms"}

    # Without page_size: the default page holds them all.
    default = await asyncio.to_thread(sms.delivery_reports.list)
    assert (default.result.count, len(default.content())) == (7, 7)

    beyond = await asyncio.to_thread(sms.delivery_reports.list, page=5, page_size=3)
    assert (beyond.result.count, beyond.content()) == (7, [])


async def test_list_filters(api: ApiServer, auth_mode: str) -> None:
    creds, other = await api.project("a"), await api.project("b")
    now = await seed_list(api, creds, other)
    sms = sdk_client(auth_mode, api.base_url, creds).sms

    async def recipients(**filters: object) -> list[str]:
        paginator = await asyncio.to_thread(sms.delivery_reports.list, page_size=100, **filters)
        return [r.recipient for r in paginator.content()]

    assert await recipients(status=["FAILED"]) == ["+46703000000", "+46703000001"]
    assert await recipients(code=[403]) == ["+46703000001"]
    assert len(await recipients(code=[0])) == 5
    assert await recipients(client_reference="r2") == ["+46703000000", "+46703000001"]
    assert await recipients(client_reference="nothing") == []
    last_day_and_more = await recipients(start_date=utc(now - 48 * HOUR_MS))
    assert len(last_day_and_more) == 8 and last_day_and_more[-1] == "+46704000000"
    assert await recipients(start_date=utc(now - 48 * HOUR_MS), end_date=utc(now - HOUR_MS)) == [
        "+46703000000", "+46703000001", "+46704000000"]
    # An end date alone looks at the day before it.
    assert await recipients(end_date=utc(now - 29 * HOUR_MS)) == ["+46704000000"]


async def test_another_projects_batch_is_not_found(api: ApiServer, auth_mode: str) -> None:
    owner, intruder = await api.project("owner"), await api.project("intruder")
    batch_id, _ = await four_recipient_batch(api, owner)
    sms = sdk_client(auth_mode, api.base_url, intruder).sms
    for call in (lambda: sms.delivery_reports.get(batch_id),
                 lambda: sms.delivery_reports.get_for_number(batch_id, "+46701000001")):
        with pytest.raises(SmsException) as caught:
            await asyncio.to_thread(call)
        assert caught.value.response_status_code == 404
        assert caught.value.http_response.body["code"] == "not_found"
    listed = await asyncio.to_thread(sms.delivery_reports.list)
    assert listed.result.count == 0


@pytest.mark.parametrize(("path", "query", "named"), [
    ("/batches/{batch}/delivery_report", {"status": "Delivered,Lost"}, "status"),
    ("/batches/{batch}/delivery_report", {"code": "0,abc"}, "code"),
    ("/delivery_reports", {"page": "-1"}, "page"),
    ("/delivery_reports", {"page": "one"}, "page"),
    ("/delivery_reports", {"page_size": "0"}, "page_size"),
    ("/delivery_reports", {"page_size": "101"}, "page_size"),
    ("/delivery_reports", {"start_date": "yesterday"}, "start_date"),
    ("/delivery_reports", {"end_date": "2024-13-01"}, "end_date"),
    ("/delivery_reports", {"status": "Sent"}, "status"),
    ("/delivery_reports", {"code": "4o4"}, "code"),
])
async def test_bad_parameters_are_xms_400(api: ApiServer, path: str, query: dict[str, str], named: str) -> None:
    creds = await api.project()
    batch_id, _ = await four_recipient_batch(api, creds)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {creds.api_token}"}) as http:
        r = await http.get(api.xms_url(creds.service_plan_id, path.format(batch=batch_id)), params=query)
    assert r.status_code == 400
    body = r.json()
    assert body["code"] in ("syntax_invalid_parameter_format", "syntax_constraint_violation")
    assert body["text"].startswith(f"{named}:")


async def test_an_unknown_report_type_is_404(api: ApiServer) -> None:
    """XMS: 404 when "the delivery report type is not recognized" (summary and full are)."""
    creds = await api.project()
    batch_id, _ = await four_recipient_batch(api, creds)
    url = api.xms_url(creds.service_plan_id, f"/batches/{batch_id}/delivery_report")
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {creds.api_token}"}) as http:
        unknown = await http.get(url, params={"type": "detailed"})
        full = await http.get(url, params={"type": "full"})
    assert (unknown.status_code, unknown.json()) == (
        404, {"code": "not_found", "text": "type: no delivery report of type 'detailed' (summary or full)"})
    assert (full.status_code, full.json()["type"]) == (200, "delivery_report_sms")


async def test_reports_need_credentials(api: ApiServer) -> None:
    creds = await api.project()
    batch_id, _ = await four_recipient_batch(api, creds)
    async with httpx.AsyncClient() as http:
        r = await http.get(api.xms_url(creds.service_plan_id, f"/batches/{batch_id}/delivery_report"))
        assert r.status_code == 401
        r = await http.get(api.xms_url(creds.service_plan_id, "/delivery_reports"),
                           headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401

