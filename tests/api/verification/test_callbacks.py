"""The application's callback URL: the signed request event (allow, deny, choose the code, no
answer) and the result event queued in the webhook outbox; the CLI that sets the URL."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tidings.actions.verify_apps import do_configure_app
from tidings.api.testing import ApiServer, serve_app
from tidings.store.db import Database, sqlite_url
from tidings.store.schema import webhook_outbox
from tidings.store.verify_schema import verify_apps
from tidings.verify import signing

from .helpers import BASE, VerifyClient, sms_code


class Receiver:
    def __init__(self) -> None:
        self.answer: Any = {"action": "allow"}
        self.requests: list[tuple[dict[str, str], bytes]] = []

    async def handle(self, request: Request) -> Response:
        self.requests.append((dict(request.headers), await request.body()))
        if self.answer is None:
            return Response(status_code=500)
        return JSONResponse(self.answer)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    async with serve_app(Starlette(routes=[Route("/cb", rec.handle, methods=["POST"])])) as url:
        yield rec, url + "/cb"


@pytest.fixture
async def client(api: ApiServer, receiver: tuple[Receiver, str]) -> AsyncIterator[VerifyClient]:
    creds = await api.project("cb")
    assert await do_configure_app(api.ctx.db, creds.application_key, {"callback_url": receiver[1]})
    async with httpx.AsyncClient(timeout=10) as http:
        yield VerifyClient(http, api.base_url, creds, api.clock)


async def test_request_event_is_signed_and_allow_sends_the_code(
        client: VerifyClient, api: ApiServer, receiver: tuple[Receiver, str]) -> None:
    rec, _ = receiver
    r = await client.start("+46703333333", reference="ref-cb", custom="c1")
    assert r.status_code == 200, r.text
    headers, body = rec.requests[-1]
    event = orjson.loads(body)
    assert event["event"] == "VerificationRequestEvent" and event["method"] == "sms"
    assert event["identity"] == {"type": "number", "endpoint": "+46703333333"}
    assert event["reference"] == "ref-cb" and event["custom"] == "c1" and event["id"] == r.json()["id"]
    key, sig = signing.parse_authorization(headers["authorization"]) or ("", "")
    assert key == client.key
    assert sig == signing.signature(client.secret, "POST", body, headers["content-type"], headers["x-timestamp"], "/cb")


async def test_callback_may_choose_the_code(
        client: VerifyClient, api: ApiServer, receiver: tuple[Receiver, str]) -> None:
    receiver[0].answer = {"action": "allow", "sms": {"code": "975310"}}
    vid = (await client.start("+46703333334")).json()["id"]
    assert await sms_code(api.ctx.db, vid) == "975310"
    done = await client.report(vid, "975310")
    assert done.json()["status"] == "SUCCESSFUL"
    async with api.ctx.db.read() as conn:
        rows = (await conn.execute(
            select(webhook_outbox).where(webhook_outbox.c.kind == "VerificationResultEvent"))).all()
    assert len(rows) == 1 and rows[0].url == receiver[1]
    result = orjson.loads(rows[0].body)
    assert result["event"] == "VerificationResultEvent" and result["id"] == vid
    assert result["status"] == "SUCCESSFUL"


@pytest.mark.parametrize(("answer", "reason"), [({"action": "deny"}, "Denied by callback"),
                                                (None, "Invalid callback"),
                                                ({"what": "ever"}, "Invalid callback")])
async def test_denied_or_broken_callback_sends_nothing(
        client: VerifyClient, api: ApiServer, receiver: tuple[Receiver, str], answer: Any, reason: str) -> None:
    receiver[0].answer = answer
    r = await client.start("+46703333335", reference="denied")
    assert r.status_code == 403 and r.json()["errorCode"] == 40300
    status = (await client.call("GET", f"{BASE}/reference/denied")).json()
    assert status["status"] == "DENIED" and status["reason"] == reason
    async with api.ctx.db.read() as conn:
        assert (await conn.execute(select(webhook_outbox.c.kind))).scalars().all() == ["VerificationResultEvent"]


def test_cli_sets_the_verification_callback(tmp_path: Path) -> None:
    data = str(tmp_path / "data")

    def tidings(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tidings.cli", *args, "--data-dir", data],
                              capture_output=True, text=True, timeout=60, check=False)

    creds = json.loads(tidings("projects", "create", "acme").stdout)
    key = creds["application_key"]
    assert len(creds["application_secret"]) == 24
    assert tidings("projects", "set-verification-callback", key, "ftp://x").returncode == 2
    assert tidings("projects", "set-verification-callback", "nope", "http://127.0.0.1:9/v").returncode == 1
    assert tidings("projects", "set-verification-callback", key, "http://127.0.0.1:9/v").returncode == 0

    async def stored() -> Any:
        db = Database(sqlite_url(data))
        try:
            async with db.read() as conn:
                return (await conn.execute(select(verify_apps.c.callback_url, verify_apps.c.secret_wrapped)
                                           .where(verify_apps.c.key == key))).one()
        finally:
            await db.aclose()

    import asyncio

    row = asyncio.run(stored())
    assert row.callback_url == "http://127.0.0.1:9/v"
    assert creds["application_secret"] not in row.secret_wrapped


async def test_a_verification_nobody_asks_about_expires_with_its_result_event(
        client: VerifyClient, api: ApiServer, receiver: tuple[Receiver, str]) -> None:
    from tidings.workers.sweeper import Sweeper
    from tidings.workers.writer import OutcomeWriter

    r = await client.start("+46703333399", reference="forgotten")
    assert r.status_code == 200, r.text
    vid = r.json()["id"]
    sweeper = Sweeper(api.ctx, OutcomeWriter(api.ctx.db, api.ctx.clock))
    assert await sweeper.expire_verifications() == 0  # not expired yet
    api.clock.advance(601)
    assert await sweeper.expire_verifications() == 1
    assert await sweeper.expire_verifications() == 0  # once
    async with api.ctx.db.read() as conn:
        bodies = [orjson.loads(b) for b in (await conn.execute(
            select(webhook_outbox.c.body).where(webhook_outbox.c.kind == "VerificationResultEvent"))).scalars()]
    assert [(b["id"], b["status"], b["reason"]) for b in bodies] == [(vid, "FAIL", "Expired")]
    status = await client.call("GET", f"/verification/v1/verifications/id/{vid}")
    assert (status.json()["status"], status.json()["reason"]) == ("FAIL", "Expired")
