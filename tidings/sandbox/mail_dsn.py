"""Delivery status notifications (RFC 3464) as the sandbox mail server writes them.

A DSN is a `multipart/report; report-type=delivery-status` with three parts: a human-readable
explanation, the `message/delivery-status` fields (per message, then per recipient: Action,
Status, Diagnostic-Code) and the returned message's headers (`text/rfc822-headers`). It is sent
with an empty envelope sender (`MAIL FROM:<>`) to the failed message's envelope sender.
"""

from __future__ import annotations

import email.utils
from email import policy
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import BytesHeaderParser

__all__ = ["build_dsn"]


def build_dsn(
    original: bytes,
    *,
    reporting_mta: str,
    recipient: str,
    to: str,
    status: str = "5.1.1",
    diagnostic: str | None = None,
    action: str = "failed",
    message_id: str,
    arrival_date: str | None = None,
) -> bytes:
    """The DSN for `original` (raw bytes) not delivered to `recipient`, addressed to `to`."""
    diagnostic = diagnostic or f"smtp; 550 {status} <{recipient}>: Recipient address rejected: User unknown"
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(original)
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = f"Mail Delivery System <MAILER-DAEMON@{reporting_mta}>"
    report["To"] = to
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Date"] = email.utils.formatdate(localtime=False)
    report["Message-ID"] = f"<{message_id}>"
    report["Auto-Submitted"] = "auto-replied"
    original_id = headers.get("Message-ID")
    if original_id:
        report["In-Reply-To"] = original_id
        report["References"] = original_id

    report.attach(MIMEText(
        f"This is the mail system at host {reporting_mta}.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients.\n\n"
        f"<{recipient}>: {diagnostic.split(';', 1)[-1].strip()}\n",
        "plain", "us-ascii",
    ))

    per_message = Message()
    per_message["Reporting-MTA"] = f"dns; {reporting_mta}"
    per_message["Arrival-Date"] = arrival_date or email.utils.formatdate(localtime=False)
    if original_id:
        per_message["Original-Message-ID"] = original_id
    per_recipient = Message()
    per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Original-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Action"] = action
    per_recipient["Status"] = status
    per_recipient["Remote-MTA"] = f"dns; {reporting_mta}"
    per_recipient["Diagnostic-Code"] = diagnostic
    delivery_status = MIMEBase("message", "delivery-status")
    delivery_status.set_payload([per_message, per_recipient])
    del delivery_status["MIME-Version"]
    report.attach(delivery_status)

    header_text = "".join(f"{k}: {v}\n" for k, v in headers.items())
    charset = "us-ascii" if header_text.isascii() else "utf-8"
    returned = MIMEText(header_text, "rfc822-headers", charset)
    report.attach(returned)
    return report.as_bytes(policy=policy.SMTP)
