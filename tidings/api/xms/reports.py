"""XMS delivery reports: a batch's report (summary or full), one recipient's report, and the
paged list of a project's recipient reports.

    GET /xms/v1/{path_id}/batches/{batch_id}/delivery_report?type=&status=&code=&client_reference=
    GET /xms/v1/{path_id}/batches/{batch_id}/delivery_report/{recipient_msisdn}
    GET /xms/v1/{path_id}/delivery_reports?page=&page_size=&start_date=&end_date=&status=&code=&client_reference=

The bodies are the webhook shapes of `tidings.webhooks.sms_events`, so a report read here and
one received as a callback are the same JSON. Another project's batch is a 404, and so is a
report `type` other than `summary` and `full` (XMS: "the delivery report type is not recognized").
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tidings.api.auth import authenticate_xms
from tidings.api.responses import json_response
from tidings.api.xms.query_params import parse_codes, parse_list_window, parse_statuses
from tidings.core.errors import NotFound
from tidings.routing.estimate import with_cost
from tidings.runtime.context import Context
from tidings.store import routing as routing_q
from tidings.store.queries import reports as rq
from tidings.webhooks import sms_events

__all__ = ["batch_report_body", "recipient_report_body", "routes"]

REPORT_TYPES = ("summary", "full")

# Our encoding names (tidings.core.encoding) as XMS writes them.
_XMS_ENCODING = {"GSM": "GSM", "UCS2": "UNICODE", "BINARY": "BINARY"}


def recipient_report_body(row: Row[*tuple[Any, ...]]) -> dict[str, Any]:
    """A `recipient_delivery_report_sms` from a row of `rq.RECIPIENT_FIELDS`."""
    return sms_events.recipient_delivery_report(
        batch_id=row.batch_id,
        recipient=row.recipient,
        status=row.status,
        code=row.code,
        at_ms=row.status_ms,
        client_reference=row.client_reference,
        encoding=_XMS_ENCODING.get(row.encoding, row.encoding) if row.encoding else None,
        number_of_message_parts=row.segments,
    )


def batch_report_body(
    batch: Row[Any, Any, Any], report_type: str, counts: list[tuple[str, int, int, list[str]]]
) -> dict[str, Any]:
    """A `delivery_report_sms` from `rq.find_batch`'s row and `rq.batch_status_counts`."""
    return sms_events.batch_delivery_report(
        batch_id=batch.id,
        report_type=report_type,
        total_message_count=batch.recipient_count,
        statuses=counts,
        client_reference=batch.client_reference,
    )


def _context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


async def get_batch_report(request: Request) -> Response:
    ctx = _context(request)
    principal = await authenticate_xms(request, ctx, request.path_params["path_id"])
    params = request.query_params
    report_type = params.get("type") or "summary"
    if report_type not in REPORT_TYPES:
        raise NotFound(f"type: no delivery report of type {report_type!r} (summary or full)")
    only = rq.ReportFilter(parse_statuses(params.get("status")), parse_codes(params.get("code")))
    client_reference = params.get("client_reference")
    batch_id = request.path_params["batch_id"]
    async with ctx.db.read() as conn:
        batch = await rq.find_batch(conn, principal.project_id, batch_id)
        if batch is None or (client_reference is not None and batch.client_reference != client_reference):
            raise NotFound(f"batch {batch_id} not found")
        counts = await rq.batch_status_counts(conn, batch.id, only=only, with_recipients=report_type == "full")
    return json_response(batch_report_body(batch, report_type, counts))


async def get_recipient_report(request: Request) -> Response:
    ctx = _context(request)
    principal = await authenticate_xms(request, ctx, request.path_params["path_id"])
    batch_id = request.path_params["batch_id"]
    recipient = request.path_params["recipient_msisdn"]
    async with ctx.db.read() as conn:
        row = await rq.find_recipient_report(conn, principal.project_id, batch_id, recipient)
    if row is None:
        raise NotFound(f"no recipient {recipient} in batch {batch_id}")
    async with ctx.db.read() as conn:
        cost = (await routing_q.costs_of(conn, [row.delivery_id])).get(row.delivery_id)
    return json_response(with_cost(recipient_report_body(row), cost))


async def list_reports(request: Request) -> Response:
    ctx = _context(request)
    principal = await authenticate_xms(request, ctx, request.path_params["path_id"])
    params = request.query_params
    window = parse_list_window(params, ctx.clock())
    only = rq.ReportFilter(parse_statuses(params.get("status")), parse_codes(params.get("code")))
    async with ctx.db.read() as conn:
        total, rows = await rq.list_recipient_reports(
            conn,
            principal.project_id,
            start_ms=window.start_ms,
            end_ms=window.end_ms,
            only=only,
            client_reference=params.get("client_reference"),
            offset=window.offset,
            limit=window.page_size,
        )
    return json_response(window.body(total, "delivery_reports", [recipient_report_body(row) for row in rows]))


def routes() -> list[Route]:
    base = "/xms/v1/{path_id}"
    return [
        Route(f"{base}/batches/{{batch_id}}/delivery_report", get_batch_report, methods=["GET"]),
        Route(f"{base}/batches/{{batch_id}}/delivery_report/{{recipient_msisdn}}", get_recipient_report,
              methods=["GET"]),
        Route(f"{base}/delivery_reports", list_reports, methods=["GET"]),
    ]
