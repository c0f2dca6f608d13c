"""Bounces and replies over SMTP into Tidings' inbound listener: DSN → FAILED, replies →
InboundEvent threaded by In-Reply-To, forged or unsigned mail refused."""

from __future__ import annotations

import uuid

import aiosmtplib
import httpx
import pytest

from tests.channels.email.conftest import APP_ID, PROMOTIONAL, TRANSACTIONAL, RecordingSink, outbound
from tidings.channels.contract import InboundEvent, StatusEvent
from tidings.channels.email import EmailConnector
from tidings.channels.email.inbound import reply_text
from tidings.sandbox.mail import MailServer, smtp_send


def of_type(sink: RecordingSink, kind: type) -> list:
    return [e for e in sink.events if isinstance(e, kind)]


async def test_unknown_mailbox_bounces_into_a_failed_status(
        connector: EmailConnector, mail: MailServer, sink: RecordingSink) -> None:
    mail.set_exists("nobody@inbox.test", False)
    result = await connector.send(outbound("nobody@inbox.test", {"text_message": {"text": "hi"}}))
    events = await sink.wait(2)
    delivered, failed = sorted(events, key=lambda e: e.status)  # type: ignore[union-attr]
    assert isinstance(failed, StatusEvent) and failed.status == "FAILED"
    assert failed.channel_message_id == result.channel_message_id
    assert failed.reason is not None and failed.reason.startswith("5.1.1 smtp; 550 5.1.1")
    assert "nobody@inbox.test" in failed.reason
    assert delivered.status == "DELIVERED"  # the hand-off happened; the DSN came after
    assert mail.messages("nobody@inbox.test") == []
    [bounce] = mail.bounces_sent
    assert b"multipart/report" in bounce and b"message/delivery-status" in bounce


async def test_dsn_without_original_message_id_is_matched_by_the_verp_address(
        connector: EmailConnector, mail: MailServer, sink: RecordingSink) -> None:
    """A DSN from an MTA that returns nothing of the message still names it: the envelope
    sender it goes to is bounces+<token>@<domain>."""
    token = uuid.uuid4().hex
    dsn = (
        "From: MAILER-DAEMON@mx.sandbox.test\r\nTo: x\r\nSubject: failure\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@mx.sandbox.test>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.sandbox.test\r\n\r\n"
        "Final-Recipient: rfc822; z@inbox.test\r\nAction: failed\r\nStatus: 5.2.2\r\n"
        "Diagnostic-Code: smtp; 552 5.2.2 mailbox full\r\n\r\n--b--\r\n"
    ).encode()
    signed = mail.keys.key_for(mail.hostname).sign(dsn)
    await smtp_send(signed, sender="", recipient=f"bounces+{token}@{TRANSACTIONAL}",
                    host="127.0.0.1", port=connector.inbound_port or 0)
    [event] = await sink.wait(1)
    assert event == StatusEvent("EMAIL", f"{token}@{TRANSACTIONAL}", "FAILED", 1_700_000_000_000,
                                "5.2.2 smtp; 552 5.2.2 mailbox full")


async def test_delayed_dsn_changes_nothing(connector: EmailConnector, mail: MailServer, sink: RecordingSink) -> None:
    dsn = (
        b"From: MAILER-DAEMON@mx.sandbox.test\r\nTo: x\r\nSubject: delayed\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.sandbox.test\r\nOriginal-Message-ID: <abc@mail.acme.test>\r\n\r\n"
        b"Final-Recipient: rfc822; z@inbox.test\r\nAction: delayed\r\nStatus: 4.4.1\r\n\r\n--b--\r\n"
    )
    signed = mail.keys.key_for(mail.hostname).sign(dsn)
    await smtp_send(signed, sender="", recipient=f"bounces+abc@{TRANSACTIONAL}",
                    host="127.0.0.1", port=connector.inbound_port or 0)
    assert sink.events == []


async def test_reply_through_the_mailbox_rest_api_is_an_inbound_event_in_the_thread(
        connector: EmailConnector, mail: MailServer, sink: RecordingSink, sandbox_url: str,
        http: httpx.AsyncClient) -> None:
    sent = await connector.send(outbound("ann@inbox.test", {"choice_message": {
        "text_message": {"text": "Which day?"},
        "choices": [{"text_message": {"text": "Monday"}, "postback_data": "mon"},
                    {"text_message": {"text": "Friday"}, "postback_data": "fri"}]}}))
    [received] = await mail.wait_for("ann@inbox.test", 1)
    await sink.wait(1)  # DELIVERED
    response = await http.post(f"{sandbox_url}/sandbox/v1/mailboxes/ann%40inbox.test/messages", json={
        "to": f"reply+{APP_ID}@{TRANSACTIONAL}", "subject": "Re: " + received.subject,
        "body": "2\n\nOn Tue, Acme wrote:\n> Which day?\n> 1. Monday\n",
        "in_reply_to": received.message_id,
    })
    assert response.status_code == 202, response.text
    [reply] = of_type(sink, InboundEvent)
    assert reply == InboundEvent(
        channel="EMAIL", app_id=APP_ID, identity="ann@inbox.test",
        channel_message_id=response.json()["message_id"], at_ms=1_700_000_000_000,
        content={"text_message": {"text": "2"}}, display_name=None,
        reply_to_channel_message_id=sent.channel_message_id,
    )


async def test_forged_reply_without_a_signature_is_refused(
        connector: EmailConnector, sink: RecordingSink) -> None:
    raw = (f"From: ann@inbox.test\r\nTo: reply+{APP_ID}@{TRANSACTIONAL}\r\nSubject: Re: hi\r\n"
           "Message-ID: <forged1@inbox.test>\r\n\r\nSTOP\r\n").encode()
    with pytest.raises(aiosmtplib.SMTPDataError) as caught:
        await aiosmtplib.send(raw, sender="ann@inbox.test", recipients=[f"reply+{APP_ID}@{TRANSACTIONAL}"],
                              hostname="127.0.0.1", port=connector.inbound_port)
    assert caught.value.code == 550 and "5.7.20" in caught.value.message
    assert sink.events == []


async def test_reply_signed_by_another_domain_is_refused(
        connector: EmailConnector, mail: MailServer, sink: RecordingSink) -> None:
    """A valid signature of attacker.test does not vouch for a From of inbox.test."""
    mail.publish_own_domain("attacker.test")
    raw = (f"From: ann@inbox.test\r\nTo: reply+{APP_ID}@{TRANSACTIONAL}\r\nSubject: Re: hi\r\n"
           "Message-ID: <forged2@attacker.test>\r\n\r\nSTOP\r\n").encode()
    signed = mail.keys.key_for("attacker.test").sign(raw)
    with pytest.raises(aiosmtplib.SMTPDataError) as caught:
        await aiosmtplib.send(signed, sender="x@attacker.test", recipients=[f"reply+{APP_ID}@{TRANSACTIONAL}"],
                              hostname="127.0.0.1", port=connector.inbound_port)
    assert caught.value.code == 550
    assert sink.events == []


async def test_mail_to_other_addresses_is_refused_at_rcpt(connector: EmailConnector) -> None:
    raw = b"From: a@inbox.test\r\nTo: hello@mail.acme.test\r\nSubject: hi\r\n\r\nhi\r\n"
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as caught:
        await aiosmtplib.send(raw, sender="a@inbox.test", recipients=[f"hello@{TRANSACTIONAL}"],
                              hostname="127.0.0.1", port=connector.inbound_port)
    assert caught.value.recipients[0].code == 550


async def test_list_unsubscribe_mailto_is_a_stop(
        connector: EmailConnector, mail: MailServer, sink: RecordingSink, sandbox_url: str,
        http: httpx.AsyncClient) -> None:
    response = await http.post(f"{sandbox_url}/sandbox/v1/mailboxes/cy%40inbox.test/messages", json={
        "to": f"unsubscribe+{APP_ID}@{PROMOTIONAL}", "subject": "unsubscribe", "body": ""})
    assert response.status_code == 202, response.text
    [event] = of_type(sink, InboundEvent)
    assert (event.identity, event.content, event.app_id) == (
        "cy@inbox.test", {"text_message": {"text": "STOP"}}, APP_ID)


def test_reply_text_cuts_the_quoted_original() -> None:
    assert reply_text("Yes please\r\n\r\nOn Mon, 1 Jan 2024, Acme <a@b.c> wrote:\r\n> offer\r\n") == "Yes please"
    assert reply_text("> quoted\nmine\n> more") == "mine"
    assert reply_text("a\n-----Original Message-----\nb") == "a"


async def test_unsigned_dsn_is_refused(connector: EmailConnector, sink: RecordingSink) -> None:
    dsn = (
        b"From: MAILER-DAEMON@evil.test\r\nTo: x\r\nSubject: failure\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; evil.test\r\nOriginal-Message-ID: <abc@mail.acme.test>\r\n\r\n"
        b"Final-Recipient: rfc822; z@inbox.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n"
    )
    with pytest.raises(aiosmtplib.SMTPDataError) as caught:
        await smtp_send(dsn, sender="", recipient=f"bounces+abc@{TRANSACTIONAL}",
                        host="127.0.0.1", port=connector.inbound_port or 0)
    assert caught.value.code == 550
    assert sink.events == []
