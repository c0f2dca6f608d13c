"""XMS batches on the wire (raw HTTP): exact shapes, idempotency, error bodies, token expiry."""

from __future__ import annotations

import asyncio
import re

import httpx
from sinch.domains.sms.models.v1.shared.binary_response import BinaryResponse
from sqlalchemy import func, select

from tidings.api.testing import ApiServer
from tidings.store.schema import batches, deliveries

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
BODY = {"to": ["+46700000001", "46700000002"], "from": "Shop", "body": "Hello"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def counts(api: ApiServer) -> tuple[int, int]:
    async with api.ctx.db.read() as conn:
        nb = (await conn.execute(select(func.count()).select_from(batches))).scalar_one()
        nd = (await conn.execute(select(func.count()).select_from(deliveries))).scalar_one()
    return int(nb), int(nd)


async def test_send_response_is_exactly_xms(api: ApiServer) -> None:
    creds = await api.project()
    async with httpx.AsyncClient() as http:
        r = await http.post(api.xms_url(creds.service_plan_id, "/batches"), headers=bearer(creds.api_token),
                            json={**BODY, "send_at": "2099-01-01T10:00:00Z", "expire_at": "2099-01-02T10:00:00.5+00:00",
                                  "max_number_of_message_parts": 3, "truncate_concat": True,
                                  "flash_message": True, "feedback_enabled": True, "delivery_report": "per_recipient"})
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"id", "to", "from", "canceled", "body", "type", "created_at", "modified_at",
                         "delivery_report", "send_at", "expire_at", "feedback_enabled", "flash_message",
                         "truncate_concat", "max_number_of_message_parts"}
    assert body["type"] == "mt_text"
    assert body["to"] == ["+46700000001", "+46700000002"]
    assert body["send_at"] == "2099-01-01T10:00:00.000Z"
    assert body["expire_at"] == "2099-01-02T10:00:00.500Z"
    assert all(ISO_MS.match(body[k]) for k in ("created_at", "modified_at", "send_at", "expire_at"))
    assert (body["canceled"], body["flash_message"], body["feedback_enabled"], body["truncate_concat"]) == (
        False, True, True, True)
    assert len(body["id"]) == 26
    # Scheduled: rows written, nothing published yet.
    assert await counts(api) == (1, 2)
    assert await api.dispatch.backlog() == 0


async def test_binary_batch_is_exactly_the_sdks_binary_response(api: ApiServer) -> None:
    creds = await api.project()
    url = api.xms_url(creds.service_plan_id, "/batches")
    binary = {"type": "mt_binary", "to": ["+46700000001"], "from": "Shop", "body": "AAF/gP7/", "udh": "06050415811581",
              "send_at": "2099-01-01T10:00:00Z", "callback_url": "http://127.0.0.1:1/cb", "client_reference": "r",
              "delivery_report": "full", "feedback_enabled": False, "from_ton": 5, "from_npi": 0,
              "purpose": "information"}
    async with httpx.AsyncClient() as http:
        sent = await http.post(url, headers=bearer(creds.api_token), json=binary)
        got = await http.get(f"{url}/{sent.json()['id']}", headers=bearer(creds.api_token))
        dry = await http.post(f"{url}/dry_run", headers=bearer(creds.api_token), params={"per_recipient": "true"},
                              json={**binary, "send_at": None})
    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert set(body) == {"id", "to", "from", "canceled", "body", "udh", "type", "created_at", "modified_at",
                         "delivery_report", "send_at", "expire_at", "callback_url", "client_reference",
                         "feedback_enabled", "from_ton", "from_npi"}
    aliases = {f.alias or name for name, f in BinaryResponse.model_fields.items()}
    assert set(body) <= aliases
    assert (body["type"], body["body"], body["udh"], body["to"]) == (
        "mt_binary", "AAF/gP7/", "06050415811581", ["+46700000001"])
    assert body["send_at"] == "2099-01-01T10:00:00.000Z"
    assert (body["from_ton"], body["from_npi"]) == (5, 0)
    assert got.status_code == 200 and got.json() == body
    assert dry.status_code == 200, dry.text
    assert dry.json() == {"number_of_recipients": 1, "number_of_messages": 1, "per_recipient": [
        {"recipient": "+46700000001", "number_of_parts": 1, "body": "AAF/gP7/", "encoding": "BINARY"}]}


async def test_idempotent_retry_returns_the_first_batch(api: ApiServer) -> None:
    creds = await api.project()
    url = api.xms_url(creds.service_plan_id, "/batches")
    headers = {**bearer(creds.api_token), "Idempotency-Key": "order-42"}
    async with httpx.AsyncClient() as http:
        first = await http.post(url, headers=headers, json=BODY)
        again = await http.post(url, headers=headers, json=dict(reversed(list(BODY.items()))))
        other = await http.post(url, headers=headers, json={**BODY, "body": "different"})
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert other.status_code == 409
    assert other.json()["code"] == "conflict"
    assert await counts(api) == (1, 2)
    assert await api.dispatch.backlog() == 2


async def test_concurrent_idempotent_retries_create_one_batch(api: ApiServer) -> None:
    creds = await api.project()
    url = api.xms_url(creds.service_plan_id, "/batches")
    headers = {**bearer(creds.api_token), "Idempotency-Key": "race"}
    async with httpx.AsyncClient() as http:
        responses = await asyncio.gather(*(http.post(url, headers=headers, json=BODY) for _ in range(20)))
    assert {r.status_code for r in responses} <= {200, 201}
    assert sum(r.status_code == 201 for r in responses) == 1
    assert len({r.json()["id"] for r in responses}) == 1
    assert await counts(api) == (1, 2)


async def test_same_key_in_two_projects_is_two_batches(api: ApiServer) -> None:
    a, b = await api.project("a"), await api.project("b")
    async with httpx.AsyncClient() as http:
        for creds in (a, b):
            r = await http.post(api.xms_url(creds.service_plan_id, "/batches"),
                                headers={**bearer(creds.api_token), "Idempotency-Key": "k"}, json=BODY)
            assert r.status_code == 201
    assert await counts(api) == (2, 4)


async def test_malformed_requests_are_xms_errors(api: ApiServer) -> None:
    creds = await api.project()
    url = api.xms_url(creds.service_plan_id, "/batches")
    h = bearer(creds.api_token)
    async with httpx.AsyncClient() as http:
        not_json = await http.post(url, headers={**h, "Content-Type": "application/json"}, content=b"{nope")
        not_object = await http.post(url, headers=h, json=["+46700000001"])
        unknown = await http.post(url, headers=h, json={**BODY, "colour": "red"})
        mistyped = await http.post(url, headers=h, json={**BODY, "flash_message": "yes"})
        bad_date = await http.post(url, headers=h, json={**BODY, "send_at": "tomorrow"})
        media = await http.post(url, headers=h, json={**BODY, "type": "mt_media"})
        empty_from = await http.post(url, headers=h, json={"to": BODY["to"], "from": " ", "body": "x"})
        bad_page = await http.get(url, headers=h, params={"page_size": "0"})
        bad_list_date = await http.get(url, headers=h, params={"start_date": "yesterday"})
    assert not_json.json()["code"] == "syntax_invalid_json"
    assert not_object.json()["code"] == "syntax_invalid_json"
    assert unknown.json()["text"].startswith("colour:")
    assert mistyped.json() == {"code": "syntax_invalid_parameter_format",
                               "text": "flash_message: must be true or false"}
    assert bad_date.json()["text"].startswith("send_at:")
    assert media.json()["text"].startswith("type:")
    assert empty_from.json() == {"code": "syntax_invalid_parameter_format", "text": "from: must be a non-empty string"}
    assert bad_page.json()["text"].startswith("page_size:")
    assert bad_list_date.json()["text"].startswith("start_date:")
    for r in (not_json, not_object, unknown, mistyped, bad_date, media, empty_from, bad_page, bad_list_date):
        assert r.status_code == 400
    assert await counts(api) == (0, 0)


async def test_expired_token_says_expired(api: ApiServer) -> None:
    creds = await api.project()
    async with httpx.AsyncClient() as http:
        token = (await http.post(f"{api.base_url}/oauth2/token", auth=(creds.key_id, creds.key_secret),
                                 data={"grant_type": "client_credentials"})).json()["access_token"]
        url = api.xms_url(creds.project_id, "/batches")
        ok = await http.get(url, headers=bearer(token))
        api.clock.advance(api.ctx.settings.token_ttl_seconds + 1)
        expired = await http.get(url, headers=bearer(token))
    assert ok.status_code == 200
    assert ok.json() == {"count": 0, "page": 0, "page_size": 0, "batches": []}
    assert expired.status_code == 401
    assert "expired" in expired.headers["www-authenticate"]
    assert expired.json()["code"] == "unauthorized"


async def test_tokens_only_open_their_own_paths(api: ApiServer) -> None:
    a, b = await api.project("a"), await api.project("b")
    async with httpx.AsyncClient() as http:
        token_a = (await http.post(f"{api.base_url}/oauth2/token", auth=(a.key_id, a.key_secret),
                                   data={"grant_type": "client_credentials"})).json()["access_token"]
        own_plan = await http.get(api.xms_url(a.service_plan_id, "/batches"), headers=bearer(token_a))
        other_project = await http.get(api.xms_url(b.project_id, "/batches"), headers=bearer(token_a))
        other_plan = await http.get(api.xms_url(b.service_plan_id, "/batches"), headers=bearer(token_a))
        plan_token_elsewhere = await http.get(api.xms_url(b.service_plan_id, "/batches"), headers=bearer(a.api_token))
    assert own_plan.status_code == 200
    assert [r.status_code for r in (other_project, other_plan, plan_token_elsewhere)] == [401, 401, 401]


async def test_dry_run_wire_shape(api: ApiServer) -> None:
    creds = await api.project()
    async with httpx.AsyncClient() as http:
        r = await http.post(api.xms_url(creds.service_plan_id, "/batches/dry_run"), headers=bearer(creds.api_token),
                            params={"per_recipient": "true", "number_of_recipients": "1"}, json=BODY)
        plain = await http.post(api.xms_url(creds.service_plan_id, "/batches/dry_run"),
                                headers=bearer(creds.api_token), json=BODY)
    assert r.status_code == 200
    assert r.json() == {"number_of_recipients": 2, "number_of_messages": 2, "per_recipient": [
        {"recipient": "+46700000001", "number_of_parts": 1, "body": "Hello", "encoding": "GSM"}]}
    assert plain.json() == {"number_of_recipients": 2, "number_of_messages": 2}
    assert await counts(api) == (0, 0)
