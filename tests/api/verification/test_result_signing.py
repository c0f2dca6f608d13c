"""Result events are signed the way Sinch signs verification callbacks: `Authorization:
Application {key}:{signature}` with the application's secret, `x-timestamp`, `Content-Type` —
checked against our implementation of the scheme and against the `sinch` 1.1.4 SDK's own
`Signature` (the code the SDK signs its requests with)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tidings.actions.verify_apps import do_configure_app
from tidings.api.testing import ApiServer, serve_app
from tidings.verify import signing
from tidings.webhooks.sender import WebhookSender

from .helpers import VerifyClient, sms_code

SDK_SIGNATURE = """
import json, sys
from types import SimpleNamespace
from sinch.core.signature import Signature
spec = json.loads(sys.argv[1])
sinch = SimpleNamespace(configuration=SimpleNamespace(application_key=spec["key"], application_secret=spec["secret"]))
sig = Signature(sinch, "POST", spec["body"], spec["path"], spec["content_type"], spec["timestamp"])
print(sig.get_http_headers_with_signature()["Authorization"])
"""


class Callbacks:
    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.arrived = asyncio.Event()

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        self.requests.append((dict(request.headers), body))
        self.arrived.set()
        if orjson.loads(body).get("event") == "VerificationRequestEvent":
            return JSONResponse({"action": "allow"})
        return Response(status_code=200)


@pytest.fixture
async def callbacks() -> AsyncIterator[tuple[Callbacks, str]]:
    rec = Callbacks()
    async with serve_app(Starlette(routes=[Route("/app/callback", rec.handle, methods=["POST"])])) as url:
        yield rec, url + "/app/callback"


async def test_result_event_carries_the_application_signature(
    api: ApiServer, callbacks: tuple[Callbacks, str], verify_sdk_python: Path
) -> None:
    rec, url = callbacks
    creds = await api.project("signed-results")
    assert await do_configure_app(api.ctx.db, creds.application_key, {"callback_url": url})
    async with httpx.AsyncClient(timeout=10) as http:
        client = VerifyClient(http, api.base_url, creds, api.clock)
        started = await client.start("+46735551234", "sms")
        assert started.status_code == 200, started.text
        vid = started.json()["id"]
        code = await sms_code(api.ctx.db, vid)
        reported = await client.report(vid, code)
        assert reported.json()["status"] == "SUCCESSFUL"

        sender = WebhookSender(api.ctx.db, http, clock=api.clock)
        for _ in range(50):
            await sender.run_once()
            if any(orjson.loads(b)["event"] == "VerificationResultEvent" for _, b in rec.requests):
                break
            await asyncio.sleep(0.05)
    headers, body = next((h, b) for h, b in rec.requests if orjson.loads(b)["event"] == "VerificationResultEvent")
    assert orjson.loads(body)["id"] == vid
    assert "x-sinch-webhook-signature" not in headers  # not the project's webhook scheme

    key, sig = signing.parse_authorization(headers["authorization"]) or ("", "")
    assert key == creds.application_key
    assert headers["content-type"] == signing.DEFAULT_CONTENT_TYPE
    timestamp = headers["x-timestamp"]
    assert abs((signing.parse_timestamp(timestamp) or 0) - api.clock()) < 60_000
    assert sig == signing.signature(creds.application_secret, "POST", body, headers["content-type"], timestamp,
                                    "/app/callback")
    # A forged body does not match the signature.
    assert sig != signing.signature(creds.application_secret, "POST", body + b" ", headers["content-type"],
                                    timestamp, "/app/callback")

    spec = {"key": creds.application_key, "secret": creds.application_secret, "body": body.decode(),
            "path": "/app/callback", "content_type": headers["content-type"], "timestamp": timestamp}
    done = subprocess.run([str(verify_sdk_python), "-c", SDK_SIGNATURE, json.dumps(spec)],
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == headers["authorization"]


async def test_result_event_of_an_application_gone_is_not_signed_with_anything_else(
    api: ApiServer, callbacks: tuple[Callbacks, str]
) -> None:
    from tidings.verify import result_signing

    creds = await api.project("other")
    headers = await result_signing.headers_for(api.ctx.db, "another-project", result_signing.marker(creds.application_key),
                                               b"{}", callbacks[1], api.clock())
    assert headers is None  # another project's application never signs this project's rows
    mine = await result_signing.headers_for(api.ctx.db, creds.project_id, result_signing.marker(creds.application_key),
                                            b"{}", callbacks[1], api.clock())
    assert mine is not None and mine["authorization"].startswith(f"Application {creds.application_key}:")
