"""Lifecycle edges a client meets: a new verification aborts the pending one for the number,
expiry racing other requests, 429s that say when to retry, email identities however typed,
malformed `method`s refused as 400 (not 500), and every code SMS of a resent verification redacted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tidings.actions import verifications as actions
from tidings.api.testing import ApiServer
from tidings.store.schema import batches
from tidings.store.verify_schema import verifications

from .helpers import BASE, VerifyClient, sms_code, verification_count

NUMBER = "+46701113333"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
async def client(api: ApiServer, http: httpx.AsyncClient) -> VerifyClient:
    return VerifyClient(http, api.base_url, await api.project("a"), api.clock)


async def _start(client: VerifyClient, number: str = NUMBER, **extra: Any) -> str:
    r = await client.start(number, **extra)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def _status(client: VerifyClient, vid: str) -> dict[str, Any]:
    r = await client.call("GET", f"{BASE}/id/{vid}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.mark.parametrize("method", [["sms"], {"sms": 1}])
async def test_a_method_that_is_not_a_string_is_a_400(client: VerifyClient, api: ApiServer, method: Any) -> None:
    r = await client.call("POST", BASE, {"identity": {"type": "number", "endpoint": NUMBER}, "method": method})
    assert r.status_code == 400 and r.json()["errorCode"] == 40001, r.text
    assert await verification_count(api.ctx.db) == 0
    vid = await _start(client)
    r = await client.call("PUT", f"{BASE}/id/{vid}", {"method": method, "sms": {"code": "1234"}})
    assert r.status_code == 400 and r.json()["errorCode"] == 40001, r.text
    assert (await _status(client, vid))["status"] == "PENDING"


async def test_a_new_verification_aborts_the_pending_one(client: VerifyClient, api: ApiServer) -> None:
    """Sinch: ABORTED, "aborted by requesting a new verification" — the old code stops working and
    its SMS is redacted."""
    first = await _start(client, reference="order-1")
    old_code = await sms_code(api.ctx.db, first)
    second = await _start(client, reference="order-2")  # a new reference: a new verification
    assert second != first
    aborted = await _status(client, first)
    assert aborted["status"] == "ABORTED"
    assert (await client.report(first, old_code)).status_code == 409
    async with api.ctx.db.read() as conn:
        ref = (await conn.execute(select(verifications.c.sent_ref).where(verifications.c.id == first))).scalar_one()
        body = (await conn.execute(select(batches.c.body).where(batches.c.id == ref))).scalar_one()
    assert old_code not in body
    assert (await _status(client, second))["status"] == "PENDING"
    api.ctx.voice = _Voice()
    flash = await _start(client, method="flashCall")  # another method replaces it too
    assert (await _status(client, second))["status"] == "ABORTED"
    assert (await _status(client, flash))["status"] == "PENDING"


class _Voice:
    async def place_flash_call(self, to: str, cli: str, ring_seconds: int | None = None) -> str:
        return "call-1"


async def _lose_the_expiry_race(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every `_finish` find the row already finished by another request (it runs once first)."""
    real = actions._finish

    async def raced(*args: Any, **kwargs: Any) -> Any:
        await real(*args, **kwargs)
        return await real(*args, **kwargs)

    monkeypatch.setattr(actions, "_finish", raced)


async def test_a_report_losing_the_expiry_race_is_not_pending(
        client: VerifyClient, api: ApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    vid = await _start(client)
    code = await sms_code(api.ctx.db, vid)
    api.clock.advance(601)
    await _lose_the_expiry_race(monkeypatch)
    r = await client.report(vid, code)
    assert r.status_code == 409 and r.json()["errorCode"] == 40900, r.text


async def test_a_status_read_losing_the_expiry_race_shows_the_stored_row(
        client: VerifyClient, api: ApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    vid = await _start(client, reference="late")
    api.clock.advance(601)
    await _lose_the_expiry_race(monkeypatch)
    for path in (f"{BASE}/id/{vid}", f"{BASE}/reference/late", f"{BASE}/sms/number/{NUMBER}"):
        body = (await client.call("GET", path)).json()
        assert body["status"] == "FAIL" and body["reason"] == "Expired", (path, body)


async def test_429s_say_when_to_retry(client: VerifyClient, api: ApiServer) -> None:
    from tidings.policy.fraud import FraudGuard, FraudSettings, Limit

    vid = await _start(client)
    for _ in range(3):
        assert await _start(client) == vid
    refused = await client.start(NUMBER)  # resends used up: a new start once this one expires
    assert refused.status_code == 429 and refused.json()["errorCode"] == 42900
    assert 0 < int(refused.headers["retry-after"]) <= 600
    api.ctx.fraud = FraudGuard(settings=FraudSettings(per_number=Limit(1, 3600)), clock=api.clock)
    assert (await client.start("+46704445555")).status_code == 200
    limited = await client.start("+46704445555")
    assert limited.status_code == 429 and "rate_limited_number" in limited.json()["message"]
    assert 0 < int(limited.headers["retry-after"]) <= 3600


async def test_an_email_identity_is_found_however_it_is_cased(client: VerifyClient, api: ApiServer) -> None:
    r = await client.call("POST", BASE, {"identity": {"type": "email", "endpoint": "Ann@Example.test"},
                                         "method": "email"})
    assert r.status_code == 200, r.text  # no conversation app: ERROR, but stored
    vid = r.json()["id"]
    status = await client.call("GET", f"{BASE}/email/number/ANN@example.TEST")
    assert status.status_code == 200 and status.json()["id"] == vid, status.text
    report = await client.call("PUT", f"{BASE}/number/ANN@example.TEST", {"method": "email", "email": {"code": "1"}})
    assert report.status_code == 409, report.text  # found: already completed (ERROR)


async def test_every_code_sms_of_a_resent_verification_is_redacted(client: VerifyClient, api: ApiServer) -> None:
    vid = await _start(client)
    first = await sms_code(api.ctx.db, vid)
    assert await _start(client) == vid  # a resend: a fresh code in a second batch
    latest = await sms_code(api.ctx.db, vid)
    assert (await client.report(vid, latest)).json()["status"] == "SUCCESSFUL"
    async with api.ctx.db.read() as conn:
        bodies = (await conn.execute(select(batches.c.body))).scalars().all()
    assert len(bodies) == 2
    assert all(first not in body and latest not in body for body in bodies), bodies


async def test_a_code_sms_not_yet_sent_when_its_verification_finishes_is_cancelled(
    client: VerifyClient, api: ApiServer
) -> None:
    """No worker runs here, so every code SMS waits Queued (as a resend behind a throughput cap
    would): once the verification is done, or aborted by a new one, they are Cancelled, not sent
    with the code redacted out of them. The new verification's SMS goes out."""
    from tidings.store.schema import deliveries

    async def statuses() -> dict[str, list[tuple[str, int]]]:
        async with api.ctx.db.read() as conn:
            rows = (await conn.execute(select(batches.c.client_reference, deliveries.c.status, deliveries.c.code)
                                       .join(batches, batches.c.id == deliveries.c.batch_id))).all()
        found: dict[str, list[tuple[str, int]]] = {}
        for reference, status, code in rows:
            found.setdefault(reference, []).append((status, code))
        return found

    done = await _start(client)
    assert await _start(client) == done  # a resend
    assert (await client.report(done, await sms_code(api.ctx.db, done))).json()["status"] == "SUCCESSFUL"
    aborted = await _start(client, "+46709998877", reference="order-1")
    fresh = await _start(client, "+46709998877", reference="order-2")
    found = await statuses()
    assert found[f"verification:{done}"] == [("Cancelled", 407)] * 2
    assert found[f"verification:{aborted}"] == [("Cancelled", 407)]
    assert found[f"verification:{fresh}"] == [("Queued", 400)]
