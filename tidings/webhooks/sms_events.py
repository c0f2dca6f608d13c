"""The XMS SMS callback bodies, in Sinch's exact JSON shapes.

Pure builders: plain values in, a dict out, no I/O. The webhook writer serialises them with
`encode` and queues them; the XMS REST API returns the same delivery report shapes from
`GET …/batches/{id}/delivery_report[/{recipient}]`.

The field names and the required fields are those the official SDK's models require
(`BatchDeliveryReport`, `RecipientDeliveryReport`, `MOTextMessage`, `MOBinaryMessage`): a missing required field
makes `parse_event` raise, or for inbound messages silently fall back to a raw response. Optional
fields are left out rather than sent as null, as XMS does. Timestamps are ISO-8601 UTC with
milliseconds and a `Z` (`2024-05-01T12:00:00.123Z`). Statuses are XMS's capitalised words
(`Delivered`), the values of `tidings.core.statuses.Status`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import Any

import orjson

__all__ = [
    "BATCH_DELIVERY_REPORT",
    "MO_BINARY",
    "MO_TEXT",
    "RECIPIENT_DELIVERY_REPORT",
    "batch_delivery_report",
    "encode",
    "iso_timestamp",
    "mo_binary",
    "mo_text",
    "recipient_delivery_report",
]

BATCH_DELIVERY_REPORT = "delivery_report_sms"
RECIPIENT_DELIVERY_REPORT = "recipient_delivery_report_sms"
MO_TEXT = "mo_text"
MO_BINARY = "mo_binary"

FULL = "full"

# One row of a batch report: (status, code, count, recipients). `recipients` may be empty when
# the report is a summary.
StatusCount = tuple[str, int, int, Sequence[str]]


def iso_timestamp(epoch_ms: int) -> str:
    """`2024-05-01T12:00:00.123Z` for an epoch-milliseconds time."""
    seconds, millis = divmod(epoch_ms, 1000)
    return f"{_iso_second(seconds)}.{millis:03d}Z"


@functools.lru_cache(maxsize=4096)
def _iso_second(seconds: int) -> str:
    """The date and time to the second: every report and API answer formats a few times (created,
    modified, expiry) that mostly share their second with many others'."""
    t = time.gmtime(seconds)  # not strftime: this runs once per delivery report
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"


def batch_delivery_report(
    *,
    batch_id: str,
    report_type: str,
    total_message_count: int,
    statuses: Iterable[StatusCount],
    client_reference: str | None = None,
) -> dict[str, Any]:
    """A batch delivery report (`delivery_report_sms`).

    `report_type` is the batch's `delivery_report` setting or the report asked for: `full` lists
    each status's recipients, anything else (`summary`) gives counts only. Statuses with a zero
    count are left out, as XMS lists only codes with at least one recipient.
    """
    rows: list[dict[str, Any]] = []
    for status, code, count, recipients in statuses:
        if count <= 0:
            continue
        row: dict[str, Any] = {"code": code, "status": _text(status), "count": count}
        if report_type == FULL:
            row["recipients"] = list(recipients)
        rows.append(row)
    report: dict[str, Any] = {
        "type": BATCH_DELIVERY_REPORT,
        "batch_id": batch_id,
        "total_message_count": total_message_count,
        "statuses": rows,
    }
    if client_reference is not None:
        report["client_reference"] = client_reference
    return report


def recipient_delivery_report(
    *,
    batch_id: str,
    recipient: str,
    status: str,
    code: int,
    at_ms: int,
    client_reference: str | None = None,
    operator_status_at_ms: int | None = None,
    encoding: str | None = None,
    number_of_message_parts: int | None = None,
    applied_originator: str | None = None,
    operator: str | None = None,
) -> dict[str, Any]:
    """A recipient delivery report (`recipient_delivery_report_sms`).

    `at_ms` is when the report was created by us; `operator_status_at_ms` the time in the
    SMSC's receipt, when it gave one. `encoding` is `GSM`, `UNICODE` or `BINARY`.
    """
    report: dict[str, Any] = {
        "type": RECIPIENT_DELIVERY_REPORT,
        "batch_id": batch_id,
        "recipient": recipient,
        "code": code,
        "status": _text(status),
        "at": iso_timestamp(at_ms),
    }
    if operator_status_at_ms is not None:
        report["operator_status_at"] = iso_timestamp(operator_status_at_ms)
    optional = {
        "client_reference": client_reference,
        "encoding": encoding,
        "number_of_message_parts": number_of_message_parts,
        "applied_originator": applied_originator,
        "operator": operator,
    }
    report.update({key: value for key, value in optional.items() if value is not None})
    return report


def mo_text(
    *,
    id: str,  # noqa: A002 - the wire name
    sender: str,
    to: str,
    body: str,
    received_at_ms: int,
    sent_at_ms: int | None = None,
    operator_id: str | None = None,
    client_reference: str | None = None,
) -> dict[str, Any]:
    """An inbound text message (`mo_text`); `sender` is sent as `from`."""
    message: dict[str, Any] = {
        "type": MO_TEXT,
        "id": id,
        "from": sender,
        "to": to,
        "body": body,
        "received_at": iso_timestamp(received_at_ms),
    }
    if sent_at_ms is not None:
        message["sent_at"] = iso_timestamp(sent_at_ms)
    if operator_id is not None:
        message["operator_id"] = operator_id
    if client_reference is not None:
        message["client_reference"] = client_reference
    return message


def mo_binary(
    *,
    id: str,  # noqa: A002 - the wire name
    sender: str,
    to: str,
    body: str,
    udh: str | None,
    received_at_ms: int,
    sent_at_ms: int | None = None,
    operator_id: str | None = None,
    client_reference: str | None = None,
) -> dict[str, Any]:
    """An inbound binary message (`mo_binary`): `body` the payload in Base64, `udh` the header's
    elements other than concatenation in hex, length octet first. The SDK requires `udh`: a
    message without any is sent `""`."""
    message = mo_text(id=id, sender=sender, to=to, body=body, received_at_ms=received_at_ms,
                      sent_at_ms=sent_at_ms, operator_id=operator_id, client_reference=client_reference)
    message["type"] = MO_BINARY
    message["udh"] = udh or ""
    return message


def encode(event: dict[str, Any]) -> bytes:
    """The JSON body to queue and send (UTF-8, compact)."""
    return orjson.dumps(event)


def _text(status: str) -> str:
    return str(status.value) if isinstance(status, Enum) else status
