"""XMS JSON shapes of batches (`mt_text`, `mt_binary`) and dry runs. Optional fields are omitted
when unset; the `type` discriminator is always there (the Sinch SDK dispatches on it)."""

from __future__ import annotations

from typing import Any

from tidings.actions.batch_checks import MT_BINARY, MtBinary, MtText
from tidings.actions.batches import XMS_ENCODING, Batch, DryRun
from tidings.webhooks.sms_events import iso_timestamp


def batch_json(batch: Batch) -> dict[str, Any]:
    t = batch.text
    if isinstance(t, MtBinary):
        return _binary_json(batch, t)
    out: dict[str, Any] = {
        "id": batch.id,
        "to": list(t.to if batch.requested_to is None else batch.requested_to),
        "canceled": batch.canceled,
        "body": t.body,
        "type": "mt_text",
        "created_at": iso_timestamp(batch.created_ms),
        "modified_at": iso_timestamp(batch.modified_ms),
        "delivery_report": t.delivery_report,
        "expire_at": iso_timestamp(t.expire_at_ms),
        "feedback_enabled": t.feedback_enabled,
        "flash_message": t.flash_message,
    }
    if t.parameters:
        out["parameters"] = t.parameters
    if t.send_at_ms is not None:
        out["send_at"] = iso_timestamp(t.send_at_ms)
    if t.callback_url is not None:
        out["callback_url"] = t.callback_url
    if t.client_reference is not None:
        out["client_reference"] = t.client_reference
    if t.truncate_concat is not None:
        out["truncate_concat"] = t.truncate_concat
    if t.max_number_of_message_parts is not None:
        out["max_number_of_message_parts"] = t.max_number_of_message_parts
    _sender_type(out, t)
    return out


def _sender_type(out: dict[str, Any], t: MtText) -> None:
    """`from` (left out of a batch sent from each recipient's default originator), `from_ton`
    and `from_npi`, each when the caller set it."""
    if t.sender is not None:
        out["from"] = t.sender
    if t.sender_ton is not None:
        out["from_ton"] = t.sender_ton
    if t.sender_npi is not None:
        out["from_npi"] = t.sender_npi


def _binary_json(batch: Batch, t: MtBinary) -> dict[str, Any]:
    """The SDK's `BinaryResponse`: the text-only fields (parameters, flash_message, parts limits)
    are not there; `udh` always is (`""` for a message without a header)."""
    out: dict[str, Any] = {
        "id": batch.id,
        "to": list(t.to if batch.requested_to is None else batch.requested_to),
        "canceled": batch.canceled,
        "body": t.body,
        "udh": t.udh or "",
        "type": MT_BINARY,
        "created_at": iso_timestamp(batch.created_ms),
        "modified_at": iso_timestamp(batch.modified_ms),
        "delivery_report": t.delivery_report,
        "expire_at": iso_timestamp(t.expire_at_ms),
        "feedback_enabled": t.feedback_enabled,
    }
    if t.send_at_ms is not None:
        out["send_at"] = iso_timestamp(t.send_at_ms)
    if t.callback_url is not None:
        out["callback_url"] = t.callback_url
    if t.client_reference is not None:
        out["client_reference"] = t.client_reference
    _sender_type(out, t)
    return out


def dry_run_json(result: DryRun) -> dict[str, Any]:
    out: dict[str, Any] = {
        "number_of_recipients": result.number_of_recipients,
        "number_of_messages": result.number_of_messages,
    }
    if result.per_recipient is not None:
        out["per_recipient"] = [
            {
                "recipient": r.recipient,
                "number_of_parts": r.parts,
                "body": r.body,
                "encoding": XMS_ENCODING[r.encoding],
            }
            for r in result.per_recipient
        ]
    if result.warnings:  # extension: content-safety findings (codes in docs/subsystems/content-safety.md)
        out["warnings"] = [{"code": w.code, "detail": w.detail} for w in result.warnings]
    return out


__all__ = ["batch_json", "dry_run_json"]
