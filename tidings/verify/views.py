"""The Verification API's response bodies (Sinch Verification v1 shapes, camelCase)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tidings.verify.model import Method, Status

__all__ = ["FLASH_DENY_CALL_AFTER", "FLASH_INTERCEPTION_TIMEOUT", "FLASH_REPORT_TIMEOUT", "start_view", "status_view"]

FLASH_INTERCEPTION_TIMEOUT = 45
FLASH_REPORT_TIMEOUT = 75
FLASH_DENY_CALL_AFTER = 0


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def links(base_url: str, verification_id: str) -> list[dict[str, str]]:
    href = f"{base_url}/verification/v1/verifications/id/{verification_id}"
    return [{"rel": "status", "href": href, "method": "GET"}, {"rel": "report", "href": href, "method": "PUT"}]


def start_view(base_url: str, row: Any, *, template: str | None = None, cli_filter: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": row.id, "method": row.method, "_links": links(base_url, row.id)}
    timeout = max(0, (row.expires_ms - row.updated_ms) // 1000)
    if row.method == Method.SMS:
        body["sms"] = {"template": template, "interceptionTimeout": timeout}
    elif row.method == Method.FLASH_CALL:
        body["flashCall"] = {"cliFilter": cli_filter, "interceptionTimeout": FLASH_INTERCEPTION_TIMEOUT,
                             "reportTimeout": FLASH_REPORT_TIMEOUT, "denyCallAfter": FLASH_DENY_CALL_AFTER}
    elif row.method == Method.CALLOUT:
        body["callout"] = {}
    else:
        body[row.method] = {"interceptionTimeout": timeout}
    return body


def status_view(row: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.id,
        "method": row.method,
        "status": row.status,
        "identity": {"type": row.identity_type, "endpoint": row.endpoint},
        "price": {"verificationPrice": {"currencyId": "EUR", "amount": 0.0}},
        "verificationTimestamp": iso(row.completed_ms or row.created_ms),
    }
    for key, value in (("reason", row.reason), ("reference", row.reference), ("custom", row.custom),
                       ("countryId", row.country_id)):
        if value is not None:
            body[key] = value
    if row.status == Status.SUCCESSFUL and row.source is not None:
        body["source"] = row.source
    if row.method in (Method.FLASH_CALL, Method.CALLOUT):
        body["callComplete"] = bool(row.call_complete)
    return body
