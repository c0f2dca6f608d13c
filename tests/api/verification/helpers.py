"""A signed-request client for the Verification API (the scheme in `tidings.verify.signing`)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson
from sqlalchemy import select

from tidings.actions.projects import ProjectCredentials
from tidings.store.db import Database
from tidings.store.schema import batches
from tidings.store.verify_schema import verifications
from tidings.verify import signing

BASE = "/verification/v1/verifications"


class VerifyClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str, creds: ProjectCredentials, clock: Any) -> None:
        self.http = http
        self.base_url = base_url
        self.key = creds.application_key
        self.secret = creds.application_secret
        self.clock = clock

    def signed(self, method: str, path: str, body: bytes = b"", *, now_ms: int | None = None,
               secret: str | None = None) -> dict[str, str]:
        return signing.headers(self.key, secret or self.secret, method, body, path,
                               self.clock() if now_ms is None else now_ms)

    async def call(self, method: str, path: str, payload: Any = None, **sign: Any) -> httpx.Response:
        body = orjson.dumps(payload) if payload is not None else b""
        return await self.http.request(method, self.base_url + path, content=body,
                                       headers=self.signed(method, path, body, **sign))

    async def start(self, number: str, method: str = "sms", **extra: Any) -> httpx.Response:
        return await self.call("POST", BASE, {"identity": {"type": "number", "endpoint": number},
                                              "method": method, **extra})

    async def report(self, vid: str, code: str, method: str = "sms") -> httpx.Response:
        return await self.call("PUT", f"{BASE}/id/{vid}", {"method": method, method: {"code": code}})


async def sms_code(db: Database, vid: str) -> str:
    """The code of an SMS verification, read from the batch that carries it."""
    async with db.read() as conn:
        ref = (await conn.execute(select(verifications.c.sent_ref).where(verifications.c.id == vid))).scalar_one()
        body = (await conn.execute(select(batches.c.body).where(batches.c.id == ref))).scalar_one()
    found = re.fullmatch(r"Your code is (\w+)", body)
    assert found, body
    return found.group(1)


async def verification_count(db: Database) -> int:
    async with db.read() as conn:
        return len((await conn.execute(select(verifications.c.id))).all())
