"""The sandbox mail server on its own: SMTP in, verdicts, mailboxes REST, DNS console, SPF."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from tidings.api.testing import serve_app
from tidings.sandbox import Sandbox
from tidings.sandbox.mail import MailServer, create_mail_server
from tidings.sandbox.mail_dns import MailDns, MxHost, check_spf, dmarc_aligned


@pytest.fixture
async def mail() -> AsyncIterator[MailServer]:
    server = create_mail_server(Sandbox(clock=lambda: 1_700_000_000_123))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def api(mail: MailServer) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=[Mount("/sandbox/v1", routes=mail.routes())])
    async with serve_app(app) as url, httpx.AsyncClient(base_url=f"{url}/sandbox/v1") as client:
        yield client


async def test_mailbox_rest_lists_parsed_mail_with_verdicts(mail: MailServer, api: httpx.AsyncClient) -> None:
    mail.publish_own_domain("shop.test")
    raw = (b"From: Shop <orders@shop.test>\r\nTo: kim@inbox.test\r\nSubject: Hello\r\n"
           b"Message-ID: <m1@shop.test>\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/alternative; boundary="x"\r\n\r\n'
           b"--x\r\nContent-Type: text/plain\r\n\r\nplain body\r\n"
           b"--x\r\nContent-Type: text/html\r\n\r\n<p>html body</p>\r\n--x--\r\n")
    signed = mail.keys.key_for("shop.test").sign(raw)
    await aiosmtplib.send(signed, sender="bounce@shop.test", recipients=["Kim@Inbox.test"],
                          hostname="127.0.0.1", port=mail.port)
    response = await api.get("/mailboxes/kim%40inbox.test/messages")
    assert response.status_code == 200
    [message] = response.json()
    assert message["raw"].startswith("DKIM-Signature:")
    assert {k: message[k] for k in ("from", "to", "subject", "dkim", "spf", "dmarc_aligned", "received_at",
                                    "message_id", "mail_from")} == {
        "from": "orders@shop.test", "to": "kim@inbox.test", "subject": "Hello", "dkim": "pass",
        "spf": "pass", "dmarc_aligned": True, "received_at": "2023-11-14T22:13:20.123Z",
        "message_id": "m1@shop.test", "mail_from": "bounce@shop.test"}
    assert message["text"].strip() == "plain body" and message["html"].strip() == "<p>html body</p>"
    assert (await api.delete("/mailboxes/kim@inbox.test/messages")).status_code == 204
    assert (await api.get("/mailboxes/kim@inbox.test/messages")).json() == []


async def test_mailboxes_together_keep_the_newest_max_held_mails() -> None:
    mail = create_mail_server(Sandbox(), max_messages=2, max_held=3)
    await mail.start()
    try:
        mail.set_exists("gone@inbox.test", False)

        async def send(to: str, subject: str) -> None:
            await aiosmtplib.send(f"From: a@b.test\r\nSubject: {subject}\r\n\r\nx\r\n".encode(), sender="a@b.test",
                                  recipients=[to], hostname="127.0.0.1", port=mail.port)

        await send("ann@inbox.test", "1")
        await send("bo@inbox.test", "2")
        await send("ann@inbox.test", "3")
        await send("ann@inbox.test", "4")  # ann's own limit: "1" goes
        assert [m.subject for m in mail.messages("ann@inbox.test")] == ["3", "4"]
        await send("cy@inbox.test", "5")  # four held: the oldest still there, bo's "2", goes
        assert mail.messages("bo@inbox.test") == [] and "bo@inbox.test" not in mail.mailboxes
        await send("cy@inbox.test", "6")
        assert [m.subject for m in mail.messages("ann@inbox.test")] == ["4"]
        assert [m.subject for m in mail.messages("cy@inbox.test")] == ["5", "6"]
        assert "gone@inbox.test" in mail.mailboxes and not mail.mailbox("gone@inbox.test").exists
    finally:
        await mail.stop()


async def test_spf_fail_when_the_domain_does_not_allow_localhost(mail: MailServer, api: httpx.AsyncClient) -> None:
    response = await api.put("/dns/strict.test", json={"txt": ["v=spf1 ip4:192.0.2.0/24 -all"]})
    assert response.status_code == 200
    assert response.json()["txt"] == ["v=spf1 ip4:192.0.2.0/24 -all"]
    raw = b"From: a@strict.test\r\nTo: lee@inbox.test\r\nSubject: s\r\n\r\nbody\r\n"
    await aiosmtplib.send(raw, sender="a@strict.test", recipients=["lee@inbox.test"],
                          hostname="127.0.0.1", port=mail.port)
    [stored] = (await api.get("/mailboxes/lee@inbox.test/messages")).json()
    assert (stored["spf"], stored["dkim"], stored["dmarc_aligned"]) == ("fail", "none", False)


async def test_unknown_mailbox_rejected_at_rcpt_when_configured(mail: MailServer, api: httpx.AsyncClient) -> None:
    assert (await api.put("/mailboxes/gone@inbox.test", json={"exists": False})).status_code == 200
    mail.unknown_mailbox = "reject"
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as caught:
        await aiosmtplib.send(b"From: a@b.test\r\n\r\nx\r\n", sender="a@b.test",
                              recipients=["gone@inbox.test"], hostname="127.0.0.1", port=mail.port)
    assert caught.value.recipients[0].code == 550


async def test_reply_needs_an_mx_and_valid_input(api: httpx.AsyncClient) -> None:
    no_mx = await api.post("/mailboxes/kim@inbox.test/messages", json={"to": "x@nowhere.test", "body": "hi"})
    assert no_mx.status_code == 422 and no_mx.json()["error"]["code"] == "no_mx"
    bad = await api.post("/mailboxes/kim@inbox.test/messages", json={"to": "x", "body": "hi"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_to"
    not_address = await api.get("/mailboxes/nope/messages")
    assert not_address.status_code == 400
    bad_dns = await api.put("/dns/x.test", json={"mx": [{"preference": 1}]})
    assert bad_dns.status_code == 400


async def test_reply_is_signed_and_delivered_to_the_mx(mail: MailServer, api: httpx.AsyncClient) -> None:
    """Replies go out over SMTP to the MX published for the recipient's domain (here the sandbox
    itself), DKIM-signed for the mailbox's domain."""
    published = await api.put("/dns/shop.test", json={"mx": [{"preference": 10, "host": "127.0.0.1",
                                                              "port": mail.port}]})
    assert published.json()["mx"] == [{"preference": 10, "host": "127.0.0.1", "port": mail.port}]
    sent = await api.post("/mailboxes/kim@inbox.test/messages", json={
        "to": "orders@shop.test", "subject": "Re: Hello", "body": "thanks", "in_reply_to": "<m1@shop.test>"})
    assert sent.status_code == 202
    [stored] = (await api.get("/mailboxes/orders@shop.test/messages")).json()
    assert stored["message_id"] == sent.json()["message_id"]
    assert (stored["in_reply_to"], stored["dkim"], stored["spf"], stored["dmarc_aligned"]) == (
        "m1@shop.test", "pass", "pass", True)
    assert stored["text"].strip() == "thanks"
    record = (await api.get(f"/dns/{mail.keys.key_for('inbox.test').txt_name}")).json()
    assert record["txt"][0].startswith("v=DKIM1; k=rsa; p=")


def test_spf_mechanisms() -> None:
    dns = MailDns()
    dns.publish("a.test", txt=["v=spf1 include:_spf.b.test ~all"])
    dns.publish("_spf.b.test", txt=["v=spf1 ip4:198.51.100.0/24 ip6:2001:db8::/32 -all"])
    dns.publish("mx.test", txt=["v=spf1 mx -all"], mx=[MxHost(10, "smtp.mx.test", 25)])
    dns.publish("loop.test", txt=["v=spf1 include:loop.test -all"])
    dns.publish("redir.test", txt=["v=spf1 redirect=_spf.b.test"])
    assert check_spf(dns, "198.51.100.7", "a.test") == "pass"
    assert check_spf(dns, "2001:db8::1", "a.test") == "pass"
    assert check_spf(dns, "203.0.113.1", "a.test") == "softfail"
    assert check_spf(dns, "127.0.0.1", "mx.test") == "pass"
    assert check_spf(dns, "10.0.0.1", "mx.test") == "fail"
    assert check_spf(dns, "10.0.0.1", "none.test") == "none"
    assert check_spf(dns, "10.0.0.1", "loop.test") == "permerror"
    assert check_spf(dns, "198.51.100.9", "redir.test") == "pass"
    assert check_spf(dns, "10.0.0.9", "redir.test") == "fail"


def test_dmarc_relaxed_alignment() -> None:
    assert dmarc_aligned("news.acme.test", dkim_domain="acme.test", dkim_pass=True, spf_domain=None, spf_pass=False)
    assert not dmarc_aligned("acme.test", dkim_domain="acme.test", dkim_pass=False, spf_domain="other.test",
                             spf_pass=True)
    assert dmarc_aligned("acme.test", dkim_domain=None, dkim_pass=False, spf_domain="bounce.acme.test", spf_pass=True)


async def test_the_mail_server_attached_to_the_sandbox_shares_its_rest_api() -> None:
    import httpx
    from starlette.applications import Starlette

    from tidings.sandbox.mail import create_mail_server
    from tidings.sandbox.world import Sandbox

    world = Sandbox(seed=1)
    mail = create_mail_server(world, host="127.0.0.1", port=0)
    world.attach(mail)
    await world.start()
    try:
        assert mail.port > 0
        app = Starlette(routes=world.routes())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            assert (await http.get("/sandbox/v1/mailboxes/a@example.com/messages")).status_code == 200
            assert (await http.get("/sandbox/v1/handsets/46701234567")).status_code == 200
    finally:
        await world.stop()


async def test_a_bounce_its_mx_does_not_take_is_sent_again_even_after_a_restart(tmp_path: Path) -> None:
    """The envelope sender's MX is down: the DSN is queued, not lost; a stop saves it, and after
    the next start it reaches the MX once one answers."""
    sandbox = Sandbox(data_dir=str(tmp_path))
    mail = create_mail_server(sandbox)
    sandbox.attach(mail)
    await sandbox.start()
    with socket.socket() as nobody:  # a port nothing listens on
        nobody.bind(("127.0.0.1", 0))
        dead_port = nobody.getsockname()[1]
    mail.dns.publish("shop.test", mx=[MxHost(10, "127.0.0.1", dead_port)])
    mail.set_exists("gone@inbox.test", False)
    await aiosmtplib.send(b"Subject: hi\r\nFrom: orders@shop.test\r\nTo: gone@inbox.test\r\n\r\nhello\r\n",
                          sender="bounce@shop.test", recipients=["gone@inbox.test"], hostname="127.0.0.1",
                          port=mail.port)
    async with asyncio.timeout(5):
        while len(mail.outbox) == 0:
            await asyncio.sleep(0.01)
    await sandbox.stop()
    saved = json.loads((tmp_path / "sandbox" / "state.json").read_text())
    assert [(m["sender"], m["recipient"]) for m in saved["mail"]] == [("", "bounce@shop.test")]

    again = Sandbox(data_dir=str(tmp_path))
    mail = create_mail_server(again)
    again.attach(mail)
    await again.start()
    try:
        assert len(mail.outbox) == 1 and mail.outbox.owed()[0].raw == mail_raw(saved)
        mail.outbox.first_delay_s = 0.05
        mail.dns.publish("shop.test", mx=[MxHost(10, "127.0.0.1", mail.port)])  # the MX answers again
        async with asyncio.timeout(10):
            while not mail.mailbox("bounce@shop.test").messages:
                await asyncio.sleep(0.02)
        [dsn] = mail.mailbox("bounce@shop.test").messages
        assert dsn.mail_from == "" and "gone@inbox.test" in dsn.raw.decode(errors="replace")
        async with asyncio.timeout(5):  # the MX's answer reaches the retrier after the mailbox has it
            while len(mail.outbox):
                await asyncio.sleep(0.01)
        assert mail.outbox.delivered == 1
    finally:
        await again.stop()


def mail_raw(saved: dict[str, Any]) -> bytes:
    return base64.b64decode(saved["mail"][0]["raw"])
