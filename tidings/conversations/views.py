"""Rows of the Conversation API tables as the API's JSON (Sinch's field names and shapes)."""

from __future__ import annotations

from typing import Any

from tidings.conversations.callbacks import iso

__all__ = ["app_json", "contact_json", "conversation_json", "message_json", "webhook_json"]


def app_json(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "display_name": row.display_name,
        "channel_credentials": row.channel_credentials,
        "conversation_metadata_report_view": row.conversation_metadata_report_view,
        "processing_mode": row.processing_mode,
    }
    out.update(row.settings or {})
    return out


def webhook_json(row: Any) -> dict[str, Any]:
    out = {
        "id": row.id,
        "app_id": row.app_id,
        "target": row.target,
        "target_type": row.target_type,
        "triggers": row.triggers,
    }
    if row.secret is not None:
        out["secret"] = row.secret
    if row.client_credentials:
        out["client_credentials"] = row.client_credentials
    return out


def contact_json(row: Any, identities: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "id": row.id,
        "channel_identities": identities,
        "channel_priority": row.channel_priority or [],
        "display_name": row.display_name or "Unknown",
        "email": row.email or "",
        "external_id": row.external_id or "",
        "language": row.language or "UNSPECIFIED",
        "metadata": row.metadata or "",
    }


def conversation_json(row: Any) -> dict[str, Any]:
    out = {
        "id": row.id,
        "app_id": row.app_id,
        "contact_id": row.contact_id,
        "active": bool(row.active),
        "active_channel": row.active_channel or "CHANNEL_UNSPECIFIED",
        "metadata": row.metadata or "",
        "last_received": iso(row.last_ms),
    }
    if getattr(row, "metadata_json", None) is not None:
        out["metadata_json"] = row.metadata_json
    if getattr(row, "correlation_id", None):
        out["correlation_id"] = row.correlation_id
    return out


def message_json(row: Any, attempts: list[Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "direction": row.direction,
        "conversation_id": row.conversation_id or "",
        "contact_id": row.contact_id or "",
        "metadata": row.metadata or "",
        "accept_time": iso(row.accept_ms),
        "processing_mode": row.processing_mode,
        "injected": False,
    }
    if row.channel:
        out["channel_identity"] = {"channel": row.channel, "identity": row.identity or "",
                                   "app_id": row.app_id}
    extensions = getattr(row, "extensions", None) or {}
    if row.direction == "TO_APP":
        out["contact_message"] = row.content
        if extensions.get("content_safety"):
            # Extension: the inbound content-safety verdict, when the message looks suspicious.
            out["content_safety"] = extensions["content_safety"]
    else:
        if extensions.get("channel_properties"):
            out["channel_properties"] = extensions["channel_properties"]
        out["app_message"] = row.content
        # Extension: where the engine is with it and every channel it tried.
        out["delivery"] = {
            "status": row.state,
            "reason": row.reason,
            "correlation_id": row.correlation_id,
            "attempts": [
                {
                    "channel": a.channel,
                    "identity": a.identity,
                    "state": a.state,
                    "reason": a.reason,
                    "channel_message_id": a.channel_message_id,
                    "billing_category": a.billing_category,
                    "tries": a.tries,
                    "started_time": iso(a.created_ms),
                    "deadline_time": iso(a.deadline_ms),
                    "finished_time": iso(a.finished_ms),
                }
                for a in attempts or []
            ],
        }
    return out
