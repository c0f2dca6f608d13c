"""The distributed API process's verification wiring (`runtime.distributed.wire_verification`):
flash calls go to the sandbox voice network over HTTP (`TIDINGS_VOICE_URL`), the fraud guard
counts in Redis — so a limit reached through one API process holds in every other one — and an
unreachable voice network leaves the verification in ERROR, never PENDING."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from tidings.policy.fraud import FraudGuard, FraudSettings, Limit
from tidings.policy.fraud_redis import RedisFraudStore
from tidings.testing.platform import Platform
from tidings.testing.services import REDIS_URL
from tidings.voice.http import HttpVoiceNetwork

from .helpers import BASE, VerifyClient, sms_code

pytestmark = pytest.mark.parametrize("profile", ["distributed"])

NUMBER = "+46701230001"


@pytest.fixture
async def client(vplatform: Platform) -> Any:
    async with httpx.AsyncClient(timeout=10) as http:
        yield VerifyClient(http, vplatform.base_url, vplatform.creds, vplatform.ctx.clock)


async def test_the_api_process_has_the_http_voice_network_and_a_redis_fraud_guard(vplatform: Platform) -> None:
    assert isinstance(vplatform.ctx.voice, HttpVoiceNetwork)
    assert vplatform.ctx.voice.url == f"{vplatform.base_url}/sandbox/v1/voice/calls"
    assert vplatform.ctx.fraud is not None
    store = vplatform.ctx.fraud.store
    assert isinstance(store, RedisFraudStore) and store.prefix == vplatform.settings.redis_prefix + "fraud:"


async def test_flash_call_end_to_end_over_http(client: VerifyClient, vplatform: Platform) -> None:
    r = await client.start(NUMBER, "flashCall", flashCallOptions={"dialTimeout": 10})
    assert r.status_code == 200, r.text
    started = r.json()
    [call] = vplatform.sandbox.voice.calls_for(NUMBER)  # placed through POST /sandbox/v1/voice/calls
    assert call.kind == "flash" and re.fullmatch(started["flashCall"]["cliFilter"], call.sender)
    done = await client.call("PUT", f"{BASE}/id/{started['id']}",
                             {"method": "flashCall", "flashCall": {"cli": call.sender}})
    assert done.status_code == 200 and done.json()["status"] == "SUCCESSFUL", done.text


async def test_sms_end_to_end(client: VerifyClient, vplatform: Platform) -> None:
    r = await client.start(NUMBER, "sms")
    assert r.status_code == 200, r.text
    vid = r.json()["id"]
    code = await sms_code(vplatform.ctx.db, vid)
    # Through the Redis stream to a worker, over SMPP to the sandbox SMSC, onto the handset.
    [message] = await vplatform.sandbox.wait_for_messages(NUMBER, 1, timeout=10)
    assert message.body == f"Your code is {code}"
    done = await client.report(vid, code)
    assert done.status_code == 200 and done.json()["status"] == "SUCCESSFUL", done.text


async def test_fraud_limits_are_shared_by_every_api_process(client: VerifyClient, vplatform: Platform) -> None:
    settings = FraudSettings(per_number=Limit(2, 3600))
    assert vplatform.ctx.fraud is not None
    vplatform.ctx.fraud.settings = settings
    for method in ("sms", "flashCall"):
        r = await client.start(NUMBER, method)
        assert r.status_code == 200, r.text
    refused = await client.start(NUMBER, "callout")
    assert refused.status_code == 429 and "rate_limited_number" in refused.json()["message"]
    # Another API process: its own Redis connection, the same key prefix, the same counts.
    redis = Redis.from_url(REDIS_URL)
    try:
        other = FraudGuard(RedisFraudStore(redis, vplatform.settings.redis_prefix + "fraud:"), settings,
                           clock=vplatform.ctx.clock)
        refusal = await other.check_start(vplatform.creds.project_id, NUMBER, None, "callout")
        assert refusal is not None and refusal.reason == "rate_limited_number"
        assert await other.check_start(vplatform.creds.project_id, "+46701230002", None, "callout") is None
    finally:
        await redis.aclose()


async def test_an_unreachable_voice_network_leaves_the_verification_in_error(
        client: VerifyClient, vplatform: Platform) -> None:
    assert isinstance(vplatform.ctx.voice, HttpVoiceNetwork)
    vplatform.ctx.voice.url = "http://127.0.0.1:9/sandbox/v1/voice/calls"  # the discard port: refused
    r = await client.start(NUMBER, "flashCall")
    assert r.status_code == 200, r.text
    status = (await client.call("GET", f"{BASE}/id/{r.json()['id']}")).json()
    assert status["status"] == "ERROR" and status["method"] == "flashCall", status
    assert vplatform.sandbox.voice.calls_for(NUMBER) == []
