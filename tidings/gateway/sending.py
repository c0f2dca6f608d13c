"""One customer message sent: a submit_sm, or the parts of a concatenated one, as one batch.

`send_message` hands the message to the send action (`do_send`) with its `smpp_batches` row
(what a receipt must carry, the data_coding a replace_sm's text comes in, the addresses a
cancel_sm may name) in the batch's own transaction, and gives the submit_sm_resp's
(command_status, message_id): the batch id, or the SMPP status of what the send action refused
(`submit.status_for`). `refusal_receipt` is the REJECTD receipt of a message
refused after its first parts were accepted (`tidings.gateway.parts`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Table

from tidings.actions.batches import do_send
from tidings.core.errors import RequestError
from tidings.core.statuses import Status
from tidings.gateway.deliver import RECEIPT, encode_pdus, receipt_deliver_sm, wants_receipt
from tidings.gateway.submit import (
    Answer,
    Submission,
    data_head,
    receipt_wanted,
    send_payload,
    status_for,
    text_of,
)
from tidings.policy.gate import shared_cache
from tidings.runtime.context import Context
from tidings.smpp.constants import CommandStatus
from tidings.smpp.receipt import RECEIPT_TEXT_CHARS
from tidings.store import gateway as gq
from tidings.store.gateway_schema import smpp_batches

__all__ = ["Tons", "refusal_receipt", "send_message"]

log = logging.getLogger(__name__)

Tons = tuple[int, int, int, int]
"""(source_addr_ton, source_addr_npi, dest_addr_ton, dest_addr_npi) as the customer sent them."""


def _addressing(account: gq.Account, batch_id: str, parts: Sequence[Submission], tons: Tons,
                mode: int, now: int) -> dict[str, Any]:
    """The `smpp_batches` row: what the receipt deliver_sm of the message must carry, and what a
    cancel_sm or replace_sm needs to know of it."""
    first = parts[0]
    if first.binary_udh is not None:
        head = data_head(first.binary_udh, first.payload)
    else:
        head = text_of(parts)[:RECEIPT_TEXT_CHARS].encode("latin-1", "replace").decode("latin-1")
    return {
        "batch_id": batch_id, "system_id": account.system_id, "registered_delivery": mode,
        "source_addr": first.source.lstrip("+"), "source_addr_ton": tons[0], "source_addr_npi": tons[1],
        "destination_addr": first.destination.lstrip("+"), "dest_addr_ton": tons[2],
        "dest_addr_npi": tons[3], "text_head": head, "submitted_ms": now, "data_coding": first.data_coding,
    }


async def send_message(ctx: Context, account: gq.Account, parts: Sequence[Submission], tons: Tons, *,
                       batch_id: str | None = None) -> Answer:
    """Send the message `parts` make; `batch_id` when its id was promised already (a second send
    with it raises `IntegrityError`)."""
    mode = receipt_wanted(parts)
    now = ctx.clock()

    def related(new_id: str) -> list[tuple[Table, list[dict[str, Any]]]]:
        return [(smpp_batches, [_addressing(account, new_id, parts, tons, mode, now)])]

    policy = await shared_cache().get(ctx.db, account.project_id)
    payload = send_payload(parts, policy.smpp_purpose(account.service_plan_id), source_type=(tons[0], tons[1]))
    try:
        result = await do_send(ctx, account.project_id, account.service_plan_id, payload,
                               related=related, batch_id=batch_id)
    except RequestError as exc:
        status = status_for(exc)
        log.info("smpp gateway: %s submit_sm refused 0x%08X: %s", account.system_id, status, exc.text)
        return status, ""
    return CommandStatus.ESME_ROK, result.batch.id


def refusal_receipt(account: gq.Account, message_id: str, parts: Sequence[Submission], tons: Tons,
                    status: int, submitted_ms: int, now: int) -> dict[str, Any] | None:
    """The `smpp_outbox` row of a REJECTD receipt for a message refused after some of its parts
    were answered ESME_ROK with `message_id`; None when no receipt of a failure was asked for.
    The receipt's err is the SMPP status the message was refused with."""
    mode = receipt_wanted(parts)
    if not wants_receipt(mode, Status.REJECTED):
        return None
    batch = SimpleNamespace(**_addressing(account, message_id, parts, tons, mode, submitted_ms))
    pdu = receipt_deliver_sm(batch, Status.REJECTED, status & 0xFF, now)
    return gq.outbox_row(account.system_id, RECEIPT, encode_pdus([pdu]), now)
