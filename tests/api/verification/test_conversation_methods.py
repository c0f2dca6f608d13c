"""WhatsApp and email verification through the Conversation engine, in both profiles, against the
sandbox twins: the WhatsApp code goes out (no 24-hour window open) on the twin's authentication
template, billed AUTHENTICATION, with the person's request as the message's opt-in; the email
code lands in the sandbox mailbox; both report back SUCCESSFUL. Without a conversation app the
start ends in ERROR."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tidings.actions.verify_apps import do_configure_app
from tidings.store.verify_schema import verifications
from tidings.testing.platform import Platform

from ...conversations.helpers import make_app, session, wait_message
from .helpers import BASE, VerifyClient

PNID = "109876543210"
WA_CREDS = {"channel": "WHATSAPP", "static_bearer": {"claimed_identity": PNID, "token": "wa-token"},
            "callback_secret": "wa-app-secret"}
EMAIL_CREDS = {"channel": "EMAIL", "email_credentials": {
    "from_name": "Acme", "from_local_part": "verify",
    "domains": {"transactional": "mail.acme.test", "promotional": "news.acme.test"}}}
NUMBER = "+46701237001"
ADDRESS = "ann@example.test"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
async def client(vplatform: Platform, http: httpx.AsyncClient) -> VerifyClient:
    return VerifyClient(http, vplatform.base_url, vplatform.creds, vplatform.ctx.clock)


async def _conversation_app(vplatform: Platform, http: httpx.AsyncClient) -> Any:
    s = await session(vplatform, http)
    app_id = await make_app(s, None, extra_credentials=[WA_CREDS, EMAIL_CREDS])
    assert await do_configure_app(vplatform.ctx.db, vplatform.creds.application_key, {"conversation_app_id": app_id})
    return s


async def _sent_ref(vplatform: Platform, vid: str) -> str:
    async with vplatform.ctx.db.read() as conn:
        ref = (await conn.execute(select(verifications.c.sent_ref).where(verifications.c.id == vid))).scalar_one()
    assert ref
    return str(ref)


async def _poll(http: httpx.AsyncClient, url: str, pick: Any, timeout: float = 15.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            r = await http.get(url)
            assert r.status_code == 200, r.text
            found = pick(r.json())
            if found:
                return found
            await asyncio.sleep(0.05)


async def test_whatsapp_code_on_the_authentication_template(
        vplatform: Platform, http: httpx.AsyncClient, client: VerifyClient) -> None:
    s = await _conversation_app(vplatform, http)
    r = await http.put(f"{vplatform.base_url}/sandbox/v1/handsets/{NUMBER.lstrip('+')}",
                       json={"capabilities": ["SMS", "WHATSAPP"]})
    assert r.status_code == 200, r.text

    started = await client.start(NUMBER, "whatsapp")
    assert started.status_code == 200, started.text
    vid = started.json()["id"]
    assert started.json()["method"] == "whatsapp"

    def whatsapp(inbox: Any) -> list[dict[str, Any]]:
        messages = inbox["messages"] if isinstance(inbox, dict) else inbox
        return [m for m in messages if m["channel"] == "WHATSAPP"]

    [message] = await _poll(http, f"{vplatform.base_url}/sandbox/v1/handsets/{NUMBER.lstrip('+')}/messages", whatsapp)
    found = re.match(r"\*(\d+)\* is your verification code\. For your security, do not share this code\.",
                     message["body"])
    assert found, message["body"]
    code = found.group(1)
    assert len(code) == 4 and f"[Copy code: {code}]" in message["body"]
    assert "This code expires in 10 minutes." in message["body"]

    sent = await wait_message(s, await _sent_ref(vplatform, vid), ("DELIVERED", "READ"))
    [attempt] = sent["delivery"]["attempts"]
    assert (attempt["channel"], attempt["billing_category"]) == ("WHATSAPP", "AUTHENTICATION")

    wrong = "0000" if code != "0000" else "1111"
    bad = await client.report(vid, wrong, "whatsapp")
    assert bad.json()["status"] == "FAIL" and bad.json()["reason"] == "Invalid code"
    done = await client.report(vid, code, "whatsapp")
    assert done.status_code == 200 and done.json()["status"] == "SUCCESSFUL", done.text


async def test_whatsapp_code_to_a_number_without_whatsapp_is_not_sent_elsewhere(
        vplatform: Platform, http: httpx.AsyncClient, client: VerifyClient) -> None:
    s = await _conversation_app(vplatform, http)
    number = "+46701237002"
    r = await http.put(f"{vplatform.base_url}/sandbox/v1/handsets/{number.lstrip('+')}", json={"capabilities": ["SMS"]})
    assert r.status_code == 200, r.text
    started = await client.start(number, "whatsapp")
    assert started.status_code == 200, started.text
    failed = await wait_message(s, await _sent_ref(vplatform, started.json()["id"]), ("FAILED",))
    assert [a["channel"] for a in failed["delivery"]["attempts"]] == ["WHATSAPP"]
    inbox = (await http.get(f"{vplatform.base_url}/sandbox/v1/handsets/{number.lstrip('+')}/messages")).json()
    assert (inbox["messages"] if isinstance(inbox, dict) else inbox) == []  # no SMS fallback


async def test_email_code_in_the_mailbox(vplatform: Platform, http: httpx.AsyncClient, client: VerifyClient) -> None:
    await _conversation_app(vplatform, http)
    started = await client.call("POST", BASE, {"identity": {"type": "email", "endpoint": ADDRESS}, "method": "email"})
    assert started.status_code == 200, started.text
    vid = started.json()["id"]
    [mail] = await _poll(http, f"{vplatform.base_url}/sandbox/v1/mailboxes/{ADDRESS}/messages", lambda box: box)
    assert mail["from"] == "verify@mail.acme.test" and (mail["dkim"], mail["spf"]) == ("pass", "pass")
    found = re.search(r"Your code is (\d+)", mail["text"])
    assert found, mail["text"]
    done = await client.call("PUT", f"{BASE}/id/{vid}", {"method": "email", "email": {"code": found.group(1)}})
    assert done.status_code == 200 and done.json()["status"] == "SUCCESSFUL", done.text
    status = (await client.call("GET", f"{BASE}/id/{vid}")).json()
    assert status["identity"] == {"type": "email", "endpoint": ADDRESS} and status["method"] == "email"


async def test_without_a_conversation_app_the_start_ends_in_error(client: VerifyClient) -> None:
    started = await client.start("+46701237003", "whatsapp")
    assert started.status_code == 200, started.text
    status = (await client.call("GET", f"{BASE}/id/{started.json()['id']}")).json()
    assert status["status"] == "ERROR"
