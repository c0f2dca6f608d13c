"""Sending: multipart structure, DKIM verdicts at the sandbox, sending domain by purpose,
List-Unsubscribe on promotional mail, hand-off errors."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from pathlib import Path

import dkim
import httpx
import pytest

from tests.channels.email.conftest import APP_ID, PROMOTIONAL, TRANSACTIONAL, RecordingSink, outbound
from tidings.channels.contract import ConnectorContext, StatusEvent
from tidings.channels.email import EmailConnector, create
from tidings.channels.email.dkim_keys import DkimKeys
from tidings.core.errors import PermanentDeliveryError, TransientDeliveryError
from tidings.sandbox.mail import MailServer, dkim_verdict

CARD = {
    "card_message": {
        "title": "Your order <shipped>",
        "description": "Arrives Tuesday & Wednesday",
        "media_message": {"url": "https://cdn.acme.test/box.png"},
        "choices": [
            {"text_message": {"text": "Track it"}, "postback_data": "track"},
            {"url_message": {"title": "Open order", "url": "https://acme.test/o/1"}},
            {"call_message": {"title": "Call us", "phone_number": "+15551234567"}},
        ],
    }
}


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


async def test_card_is_multipart_alternative_text_then_html(connector: EmailConnector, mail: MailServer) -> None:
    result = await connector.send(outbound("ann@inbox.test", CARD, contact_name="Ann"))
    [stored] = await mail.wait_for("ann@inbox.test", 1)
    message = parsed(stored.raw)
    assert message.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert message["Subject"] == "Your order <shipped>"
    assert message["To"] == "Ann <ann@inbox.test>"
    assert message["From"] == f"Acme <hello@{TRANSACTIONAL}>"
    assert message["Reply-To"] == f"reply+{APP_ID}@{TRANSACTIONAL}"
    assert message["Message-ID"] == f"<{result.channel_message_id}>"
    assert result.channel_message_id.endswith("@" + TRANSACTIONAL)
    assert stored.mail_from == "bounces+" + result.channel_message_id
    text = stored.text or ""
    assert "1. Track it" in text and "2. Open order: https://acme.test/o/1" in text
    assert "https://cdn.acme.test/box.png" in text
    html = stored.html or ""
    assert "Your order &lt;shipped&gt;" in html and "Tuesday &amp; Wednesday" in html
    assert '<img src="https://cdn.acme.test/box.png"' in html
    assert 'href="https://acme.test/o/1"' in html and 'href="tel:+15551234567"' in html
    assert f"mailto:reply+{APP_ID}@{TRANSACTIONAL}?subject=" in html and "body=1" in html
    assert "List-Unsubscribe" not in message


async def test_dkim_passes_at_the_sandbox_and_fails_when_the_body_changes(
        connector: EmailConnector, mail: MailServer) -> None:
    await connector.send(outbound("bob@inbox.test", {"text_message": {"text": "Your code is 1234"}}))
    [stored] = await mail.wait_for("bob@inbox.test", 1)
    assert (stored.dkim, stored.dkim_domain, stored.spf, stored.dmarc_aligned) == (
        "pass", TRANSACTIONAL, "pass", True)
    tampered = stored.raw.replace(b"1234", b"9999")
    assert tampered != stored.raw
    assert dkim_verdict(tampered, mail.dns)[0] == "fail"
    header_tampered = stored.raw.replace(b"Subject: Your code", b"Subject: Our code")
    assert dkim_verdict(header_tampered, mail.dns)[0] == "fail"
    # the published key is the one signing: verify independently of the sandbox
    assert dkim.verify(stored.raw, dnsfunc=mail.dns.dkim_txt)


async def test_altered_body_in_transit_is_recorded_as_dkim_fail(
        connector: EmailConnector, mail: MailServer) -> None:
    """A signed message changed after signing and delivered over SMTP is stored with dkim=fail
    (and DMARC then rests on SPF alone)."""
    import aiosmtplib

    await connector.send(outbound("eve@inbox.test", {"text_message": {"text": "Pay 10 EUR"}}))
    [original] = await mail.wait_for("eve@inbox.test", 1)
    altered = original.raw.replace(b"Pay 10 EUR", b"Pay 99 EUR")
    await aiosmtplib.send(altered, sender=original.mail_from, recipients=["eve@inbox.test"],
                          hostname="127.0.0.1", port=mail.port)
    stored = (await mail.wait_for("eve@inbox.test", 2))[1]
    assert stored.dkim == "fail"
    assert stored.spf == "pass" and stored.dmarc_aligned is True


async def test_unsigned_mail_from_unpublished_domain_is_none_and_unaligned(mail: MailServer) -> None:
    import aiosmtplib

    raw = (b"From: someone@elsewhere.test\r\nTo: zed@inbox.test\r\nSubject: hi\r\n"
           b"Message-ID: <x1@elsewhere.test>\r\n\r\nhello\r\n")
    await aiosmtplib.send(raw, sender="someone@elsewhere.test", recipients=["zed@inbox.test"],
                          hostname="127.0.0.1", port=mail.port)
    [stored] = await mail.wait_for("zed@inbox.test", 1)
    assert (stored.dkim, stored.spf, stored.dmarc_aligned) == ("none", "none", False)


async def test_promotional_mail_goes_from_the_promotional_domain_with_list_unsubscribe(
        connector: EmailConnector, mail: MailServer) -> None:
    promo = await connector.send(outbound("cy@inbox.test", {"text_message": {"text": "Sale!"}},
                                          purpose="engagement"))
    info = await connector.send(outbound("cy@inbox.test", {"text_message": {"text": "Receipt"}},
                                         purpose="security"))
    first, second = await mail.wait_for("cy@inbox.test", 2)
    assert promo.channel_message_id.endswith("@" + PROMOTIONAL)
    assert info.channel_message_id.endswith("@" + TRANSACTIONAL)
    assert promo.details["traffic"] == "promotional" and info.details["traffic"] == "transactional"
    promo_mail, info_mail = parsed(first.raw), parsed(second.raw)
    assert promo_mail["From"] == f"Acme <hello@{PROMOTIONAL}>"
    assert (first.dkim, first.dkim_domain, first.spf, first.dmarc_aligned) == ("pass", PROMOTIONAL, "pass", True)
    assert first.mail_from.endswith("@" + PROMOTIONAL)
    assert " ".join(promo_mail["List-Unsubscribe"].split()) == (
        "<https://acme.test/unsubscribe?e=cy%40inbox.test>, "
        f"<mailto:unsubscribe+{APP_ID}@{PROMOTIONAL}?subject=unsubscribe>")
    assert promo_mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    signed = promo_mail["DKIM-Signature"].replace("\r\n", "").replace(" ", "")
    assert "list-unsubscribe:list-unsubscribe-post" in signed.lower().replace("h=", "")
    assert info_mail["From"] == f"Acme <hello@{TRANSACTIONAL}>"
    assert "List-Unsubscribe" not in info_mail
    assert second.dkim_domain == TRANSACTIONAL


async def test_each_domain_has_its_own_key_kept_on_disk(connector: EmailConnector, tmp_path: Path) -> None:
    promo = connector.keys.key_for(PROMOTIONAL)
    trans = connector.keys.key_for(TRANSACTIONAL)
    assert promo.public_key_b64 != trans.public_key_b64
    files = sorted(p.relative_to(tmp_path / "dkim").as_posix() for p in (tmp_path / "dkim").rglob("*.pem"))
    assert files == sorted([f"{PROMOTIONAL}/{promo.selector}.pem", f"{TRANSACTIONAL}/{trans.selector}.pem"])
    reloaded = DkimKeys(tmp_path / "dkim", generate=False).key_for(PROMOTIONAL)
    assert reloaded == promo
    assert ((tmp_path / "dkim" / PROMOTIONAL / f"{promo.selector}.pem").stat().st_mode & 0o777) == 0o600


async def test_handoff_emits_delivered(connector: EmailConnector, mail: MailServer, sink: RecordingSink) -> None:
    result = await connector.send(outbound("dee@inbox.test", {"text_message": {"text": "hi"}}))
    [event] = await sink.wait(1)
    assert event == StatusEvent("EMAIL", result.channel_message_id, "DELIVERED", 1_700_000_000_000)


async def test_refused_recipient_is_permanent(connector: EmailConnector, mail: MailServer, sink: RecordingSink) -> None:
    mail.unknown_mailbox = "reject"
    mail.set_exists("gone@inbox.test", False)
    with pytest.raises(PermanentDeliveryError) as caught:
        await connector.send(outbound("gone@inbox.test", {"text_message": {"text": "hi"}}))
    assert caught.value.code == 550
    assert "5.1.1" in str(caught.value)
    assert mail.messages("gone@inbox.test") == []


async def test_not_an_address_is_permanent_and_unreachable(connector: EmailConnector) -> None:
    message = outbound("not-an-address", {"text_message": {"text": "hi"}})
    assert (await connector.capability(message)).reachable is False
    with pytest.raises(PermanentDeliveryError):
        await connector.send(message)


async def test_smarthost_down_is_transient(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with httpx.AsyncClient() as http:
        conn = create(ConnectorContext(base_url=f"smtp://127.0.0.1:{port}", http=http, clock=lambda: 0,
                                       public_url="http://x", options={"dkim_key_dir": str(tmp_path)}))
        with pytest.raises(TransientDeliveryError):
            await conn.send(outbound("a@inbox.test", {"text_message": {"text": "hi"}}))
        await conn.aclose()
