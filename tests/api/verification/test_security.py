"""Attacks and mistakes: brute force, replayed and forged signatures, expired codes, a code for
another number, enumeration across projects, concurrent reports, bad input (nothing written)."""

from __future__ import annotations

import asyncio
import base64
import re
import statistics
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from tidings.api.testing import ApiServer
from tidings.store.schema import batches
from tidings.store.verify_schema import verifications

from .helpers import BASE, VerifyClient, sms_code, verification_count

NUMBER = "+46701111111"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
async def client(api: ApiServer, http: httpx.AsyncClient) -> VerifyClient:
    return VerifyClient(http, api.base_url, await api.project("a"), api.clock)


async def _start(client: VerifyClient, number: str = NUMBER) -> str:
    r = await client.start(number)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def test_brute_force_is_locked_after_max_attempts(client: VerifyClient, api: ApiServer) -> None:
    vid = await _start(client)
    code = await sms_code(api.ctx.db, vid)
    wrong = [c for c in ("0000", "1111", "2222", "3333") if c != code][:3]
    for guess in wrong:
        r = await client.report(vid, guess)
        assert r.status_code == 200 and r.json()["status"] == "FAIL"
    locked = await client.report(vid, code)  # the right code, too late
    assert locked.status_code == 409 and locked.json()["errorCode"] == 40900
    status = (await client.call("GET", f"{BASE}/id/{vid}")).json()
    assert status["status"] == "FAIL" and status["reason"] == "Invalid code"


async def test_forged_signature_and_wrong_secret_are_refused(client: VerifyClient) -> None:
    forged_secret = base64.b64encode(b"x" * 16).decode()
    r = await client.call("POST", BASE, {"identity": {"type": "number", "endpoint": NUMBER}, "method": "sms"},
                          secret=forged_secret)
    assert r.status_code == 401 and r.json()["errorCode"] == 40100 and "reference" in r.json()
    body = b'{"identity":{"type":"number","endpoint":"+46701111111"},"method":"sms"}'
    headers = client.signed("POST", BASE, body)
    tampered = body.replace(b"1111111", b"2222222")
    r = await client.http.post(client.base_url + BASE, content=tampered, headers=headers)
    assert r.status_code == 401
    r = await client.http.post(client.base_url + BASE, content=body)
    assert r.status_code == 401
    r = await client.http.post(client.base_url + BASE, content=body, headers={"authorization": "Application nope"})
    assert r.status_code == 401


async def test_replays_are_refused(client: VerifyClient, api: ApiServer) -> None:
    body = b'{"identity":{"type":"number","endpoint":"+46701111111"},"method":"sms"}'
    headers = client.signed("POST", BASE, body)
    first = await client.http.post(client.base_url + BASE, content=body, headers=headers)
    assert first.status_code == 200
    again = await client.http.post(client.base_url + BASE, content=body, headers=headers)
    assert again.status_code == 401  # the same signature inside the window
    old = client.signed("POST", BASE, body, now_ms=api.clock() - 6 * 60 * 1000)
    assert (await client.http.post(client.base_url + BASE, content=body, headers=old)).status_code == 401
    future = client.signed("POST", BASE, body, now_ms=api.clock() + 6 * 60 * 1000)
    assert (await client.http.post(client.base_url + BASE, content=body, headers=future)).status_code == 401
    assert await verification_count(api.ctx.db) == 1


async def test_basic_auth(client: VerifyClient, api: ApiServer) -> None:
    url = client.base_url + BASE
    payload = {"identity": {"type": "number", "endpoint": NUMBER}, "method": "sms"}
    ok = await client.http.post(url, json=payload, auth=(client.key, client.secret))
    assert ok.status_code == 200, ok.text
    bad = await client.http.post(url, json=payload, auth=(client.key, "d3Jvbmc="))
    assert bad.status_code == 401


async def test_expired_code(client: VerifyClient, api: ApiServer) -> None:
    vid = await _start(client)
    code = await sms_code(api.ctx.db, vid)
    api.clock.advance(601)
    r = await client.report(vid, code)
    assert r.status_code == 200
    assert r.json()["status"] == "FAIL" and r.json()["reason"] == "Expired"


async def test_code_for_another_number(client: VerifyClient, api: ApiServer) -> None:
    vid_a = await _start(client, "+46701111111")
    vid_b = await _start(client, "+46702222222")
    code_a = await sms_code(api.ctx.db, vid_a)
    code_b = await sms_code(api.ctx.db, vid_b)
    if code_a != code_b:
        r = await client.report(vid_b, code_a)
        assert r.json()["status"] == "FAIL"
    by_number = await client.call("PUT", f"{BASE}/number/+46702222222", {"method": "sms", "sms": {"code": code_b}})
    assert by_number.json()["status"] == "SUCCESSFUL" and by_number.json()["id"] == vid_b
    still = (await client.call("GET", f"{BASE}/id/{vid_a}")).json()
    assert still["status"] == "PENDING"


async def test_enumeration_across_projects(client: VerifyClient, api: ApiServer, http: httpx.AsyncClient) -> None:
    vid = await _start(client)
    other = VerifyClient(http, api.base_url, await api.project("b"), api.clock)
    theirs = await other.call("GET", f"{BASE}/id/{vid}")
    missing = await other.call("GET", f"{BASE}/id/{'0' * 32}")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["errorCode"] == missing.json()["errorCode"] == 40400
    assert theirs.json()["message"] == missing.json()["message"]
    assert (await other.report(vid, "1234")).status_code == 404
    assert (await other.call("GET", f"{BASE}/sms/number/{NUMBER}")).status_code == 404

    async def timed(path: str) -> float:
        """The median of 15 lookups: one stall of the machine (a checkpoint, a collection) must
        not decide it; an answer that is slower every time does."""
        times = []
        for _ in range(15):
            start = time.perf_counter()
            await other.call("GET", path)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    t_theirs, t_missing = await timed(f"{BASE}/id/{vid}"), await timed(f"{BASE}/id/{'1' * 32}")
    assert max(t_theirs, t_missing) < 5 * min(t_theirs, t_missing)


async def test_concurrent_reports_only_one_succeeds(client: VerifyClient, api: ApiServer) -> None:
    vid = await _start(client)
    code = await sms_code(api.ctx.db, vid)
    now = api.clock()
    path, payload = f"{BASE}/id/{vid}", {"method": "sms", "sms": {"code": code}}
    # Distinct timestamps: identical signed requests would be refused as replays.
    results = await asyncio.gather(*(client.call("PUT", path, payload, now_ms=now + i) for i in range(8)))
    successful = [r for r in results if r.status_code == 200 and r.json()["status"] == "SUCCESSFUL"]
    assert len(successful) == 1
    assert all(r.status_code == 409 for r in results if r not in successful)


@pytest.mark.parametrize("payload", [
    {"identity": {"type": "number", "endpoint": "12345"}, "method": "sms"},
    {"identity": {"type": "number", "endpoint": "+4670"}, "method": "sms"},
    {"identity": {"type": "number", "endpoint": NUMBER}, "method": "carrierPigeon"},
    {"identity": {"type": "email", "endpoint": NUMBER}, "method": "sms"},
    {"identity": {"type": "email", "endpoint": "not-an-email"}, "method": "email"},
    {"identity": {"type": "number", "endpoint": NUMBER}, "method": "sms", "smsOptions": {"template": "no code"}},
    {"identity": {"type": "number", "endpoint": NUMBER}, "method": "sms", "smsOptions": {"codeType": "Emoji"}},
    {"identity": {"type": "number", "endpoint": NUMBER}, "method": "sms", "smsOptions": {"expiry": "forever"}},
    {"identity": {"type": "number", "endpoint": NUMBER}, "method": "flashCall", "flashCallOptions": {"dialTimeout": "x"}},
    {"identity": {"type": "number", "endpoint": NUMBER}, "method": "sms", "reference": ""},
    {"method": "sms"},
    [1, 2],
])
async def test_bad_input_writes_nothing(client: VerifyClient, api: ApiServer, payload: object) -> None:
    r = await client.call("POST", BASE, payload)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["errorCode"] == 40001 and body["message"] and body["reference"]
    assert await verification_count(api.ctx.db) == 0
    async with api.ctx.db.read() as conn:
        assert (await conn.execute(select(batches.c.id))).all() == []


async def test_invalid_json_and_unknown_route(client: VerifyClient, api: ApiServer) -> None:
    body = b"{not json"
    r = await client.http.post(client.base_url + BASE, content=body, headers=client.signed("POST", BASE, body))
    assert r.status_code == 400 and r.json()["errorCode"] == 40001
    r = await client.call("GET", "/verification/v1/nothing-here")
    assert r.status_code == 404 and r.json()["errorCode"] == 40400
    bad_report = await client.call("PUT", f"{BASE}/id/{'0' * 32}", {"method": "sms", "sms": {}})
    assert bad_report.status_code == 400
    assert await verification_count(api.ctx.db) == 0


def _holds_code(values: tuple[object, ...], code: str) -> bool:
    """True when any column keeps the code in clear: as a number, or as a token of its own in text.

    Ids, hashes and millisecond timestamps are long hexadecimal or decimal runs that may hold the
    code's digits by chance; a token bounded by non-hex characters is the code itself.
    """
    token = re.compile(rf"(?<![0-9a-fA-F]){code}(?![0-9a-fA-F])")
    for value in values:
        if isinstance(value, int) and str(value) == code:
            return True
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        if isinstance(text, str) and token.search(text):
            return True
    return False


def test_the_code_check_finds_a_code_kept_in_clear() -> None:
    assert _holds_code(("70f983602daf", 1795853072602, None), "3602") is False
    assert _holds_code(("3602",), "3602") and _holds_code(('{"code": "3602"}',), "3602")
    assert _holds_code((3602,), "3602")


async def test_code_is_stored_only_as_a_hash_and_redacted_after_success(client: VerifyClient, api: ApiServer) -> None:
    vid = await _start(client)
    code = await sms_code(api.ctx.db, vid)
    async with api.ctx.db.read() as conn:
        row = (await conn.execute(select(verifications).where(verifications.c.id == vid))).one()
    assert not _holds_code(tuple(row), code)
    assert (await client.report(vid, code)).json()["status"] == "SUCCESSFUL"
    async with api.ctx.db.read() as conn:
        body = (await conn.execute(select(batches.c.body).where(batches.c.id == row.sent_ref))).scalar_one()
    assert code not in body


async def test_resends_reuse_the_verification_up_to_the_limit(client: VerifyClient, api: ApiServer) -> None:
    vid = await _start(client)
    first = await sms_code(api.ctx.db, vid)
    for _ in range(3):
        assert await _start(client) == vid
    latest = await sms_code(api.ctx.db, vid)
    refused = await client.start(NUMBER)
    assert refused.status_code == 429 and refused.json()["errorCode"] == 42900
    if first != latest:
        assert (await client.report(vid, first)).json()["status"] == "FAIL"
    assert (await client.report(vid, latest)).json()["status"] == "SUCCESSFUL"


async def test_fraud_guard_refusals_write_nothing(client: VerifyClient, api: ApiServer) -> None:
    from tidings.policy.fraud import FraudGuard, FraudSettings, Limit

    api.ctx.fraud = FraudGuard(settings=FraudSettings(per_number=Limit(2, 3600)), clock=api.clock)
    first = await _start(client, "+46704444444")
    assert await _start(client, "+46704444444") == first  # a resend, counted by the guard
    limited = await client.start("+46704444444")
    assert limited.status_code == 429 and limited.json()["errorCode"] == 42900
    assert "rate_limited_number" in limited.json()["message"]
    landline = await client.start("+46812345678")  # a Stockholm landline: no SMS codes
    assert landline.status_code == 403 and "landline_number" in landline.json()["message"]
    assert await verification_count(api.ctx.db) == 1
