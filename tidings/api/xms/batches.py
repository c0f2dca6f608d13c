"""XMS batches endpoints under `/xms/v1/{path_id}/batches`: send, list, dry_run, get, update
(POST), replace (PUT), cancel (DELETE) and delivery feedback. Parse, authenticate, call actions,
serialise."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tidings.actions import batches as actions
from tidings.actions.batch_checks import sender_variants
from tidings.actions.feedback import do_delivery_feedback
from tidings.actions.groups import expand_groups
from tidings.actions.policy import get_policy
from tidings.api.auth import authenticate_xms
from tidings.api.responses import json_response
from tidings.api.xms import query_params as qp
from tidings.api.xms.bodies import json_body
from tidings.api.xms.serialize import batch_json, dry_run_json
from tidings.core.errors import NotFound
from tidings.routing.estimate import with_prices
from tidings.runtime.context import Context
from tidings.store.queries import batches as q


def _bool_param(name: str, raw: str | None) -> bool:
    if raw is None or raw == "":
        return False
    value = raw.strip().lower()
    if value not in ("true", "false"):
        raise qp.bad_parameter(name, "must be true or false")
    return value == "true"


def _int_param(name: str, raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    return qp.parse_integer(name, raw, 0, actions.DRY_RUN_MAX_RECIPIENTS)


def _senders(values: list[str]) -> list[str]:
    """The `from` filter: every stored form of each sender named (`sender_variants`)."""
    named = qp.parse_csv(",".join(values)) or []
    return list(dict.fromkeys(v for sender in named for v in sender_variants(sender)))


def routes(ctx: Context) -> list[Route]:
    async def send(request: Request) -> Response:
        principal = await authenticate_xms(request, ctx, request.path_params["path_id"])
        payload = await json_body(request)
        result = await actions.do_send(
            ctx, principal.project_id, principal.service_plan_id, payload,
            request.headers.get("idempotency-key"),
        )
        return json_response(batch_json(result.batch), 201 if result.created else 200)

    async def list_batches(request: Request) -> Response:
        principal = await authenticate_xms(request, ctx, request.path_params["path_id"])
        params = request.query_params
        page = qp.parse_page(params.get("page"))
        page_size = qp.parse_page_size(params.get("page_size"))
        senders = _senders(params.getlist("from")) if "from" in params else None
        filters = q.BatchFilter(
            senders=senders,
            start_ms=qp.parse_date_ms("start_date", params.get("start_date")),
            end_ms=qp.parse_date_ms("end_date", params.get("end_date")),
            client_reference=params.get("client_reference"),
        )
        async with ctx.db.read() as conn:
            count, rows = await q.list_page(conn, principal.project_id, filters, page, page_size)
            recipients = await q.recipients(conn, [r.id for r in rows])
        batches = [batch_json(actions.batch_from_row(r, recipients[r.id])) for r in rows]
        return json_response({"count": count, "page": page, "page_size": len(batches), "batches": batches})

    async def dry_run(request: Request) -> Response:
        principal = await authenticate_xms(request, ctx, request.path_params["path_id"])
        params = request.query_params
        per_recipient = _bool_param("per_recipient", params.get("per_recipient"))
        number = _int_param("number_of_recipients", params.get("number_of_recipients"))
        payload = await json_body(request)
        group_send = await expand_groups(ctx, principal.project_id, payload)  # a `to` naming groups
        if group_send is not None:
            payload = group_send.payload
        policy = await get_policy(ctx.db, principal.project_id)
        return json_response(with_prices(ctx, dry_run_json(actions.dry_run(ctx, payload, per_recipient, number,
                                                                            policy))))

    async def get(request: Request) -> Response:
        principal = await authenticate_xms(request, ctx, request.path_params["path_id"])
        batch_id = request.path_params["batch_id"]
        async with ctx.db.read() as conn:
            row = await q.get(conn, principal.project_id, batch_id)
            if row is None:
                raise NotFound(f"Batch {batch_id} not found")
            recipients = (await q.recipients(conn, [batch_id]))[batch_id]
        return json_response(batch_json(actions.batch_from_row(row, recipients)))

    async def update(request: Request) -> Response:
        principal = await authenticate_xms(request, ctx, request.path_params["path_id"])
        payload = await json_body(request)
        batch = await actions.do_update(ctx, principal.project_id, request.path_params["batch_id"], payload)
        return json_response(batch_json(batch))

    async def replace(request: Request) -> Response:
        principal = await authenticate_xms(request, ctx, request.path_params["path_id"])
        payload = await json_body(request)
        batch = await actions.do_replace(ctx, principal.project_id, request.path_params["batch_id"], payload)
        return json_response(batch_json(batch))

    async def cancel(request: Request) -> Response:
        principal = await authenticate_xms(request, ctx, request.path_params["path_id"])
        batch = await actions.do_cancel(ctx, principal.project_id, request.path_params["batch_id"])
        return json_response(batch_json(batch))

    async def delivery_feedback(request: Request) -> Response:
        principal = await authenticate_xms(request, ctx, request.path_params["path_id"])
        payload = await json_body(request)
        await do_delivery_feedback(ctx, principal.project_id, request.path_params["batch_id"], payload)
        return Response(status_code=202)

    base = "/xms/v1/{path_id}/batches"
    return [
        Route(base, send, methods=["POST"]),
        Route(base, list_batches, methods=["GET"]),
        Route(base + "/dry_run", dry_run, methods=["POST"]),
        Route(base + "/{batch_id}", get, methods=["GET"]),
        Route(base + "/{batch_id}", update, methods=["POST"]),
        Route(base + "/{batch_id}", replace, methods=["PUT"]),
        Route(base + "/{batch_id}", cancel, methods=["DELETE"]),
        Route(base + "/{batch_id}/delivery_feedback", delivery_feedback, methods=["POST"]),
    ]


__all__ = ["routes"]
