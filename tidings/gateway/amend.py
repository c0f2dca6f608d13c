"""cancel_sm and replace_sm: what a customer may still change of a message it submitted over SMPP.

A message can be changed while its delivery is Queued and not yet taken for sending (scheduled
with schedule_delivery_time, or waiting its turn); once dispatch has taken it the carrier has it,
and cancel_sm is answered ESME_RCANCELFAIL, replace_sm ESME_RREPLACEFAIL. Only the account's own
messages are found (by their `smpp_batches` row): another account's message id is unknown,
ESME_RINVMSGID, as is an id never given. A source_addr, when the PDU has one, must be the
message's (ESME_RINVSRCADR).

- cancel_sm with a message_id: that message — through the XMS API's cancel (`do_cancel`), so the
  delivery becomes Cancelled (407) and is reported like any cancel — or, for a concatenated
  message whose parts are still coming, its stored parts (deleted: nothing is sent).
- cancel_sm without a message_id: every message of the account from source_addr to
  destination_addr that can still be cancelled; ESME_RCANCELFAIL when there is none.
- replace_sm: the new short_message (in the replaced message's data_coding; for 8-bit data the
  new user data whole, its header first when the message had one) with the same
  sender and recipient, through the XMS API's replace (`do_replace`: the checks of a new message
  apply, and a refusal is answered with its SMPP status); an empty schedule_delivery_time keeps
  the message's own, an empty validity_period too unless the schedule changes (then the
  default, as an XMS update); registered_delivery is the new receipt mode.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select, update

from tidings.actions.batches import do_cancel, do_replace
from tidings.core.encoding import decode
from tidings.core.errors import RequestError
from tidings.core.statuses import Status
from tidings.gateway.submit import (
    SubmitRefused,
    binary_payload,
    data_head,
    iso,
    parse_smpp_time,
    split_data,
    status_for,
)
from tidings.runtime.context import Context
from tidings.smpp.constants import CommandStatus
from tidings.smpp.pdu import CancelSm, ReplaceSm
from tidings.smpp.receipt import RECEIPT_TEXT_CHARS
from tidings.store import gateway as gq
from tidings.store import submit_parts as sq
from tidings.store.gateway_schema import smpp_batches
from tidings.store.queries.batches import UNSENT
from tidings.store.schema import batches, deliveries

__all__ = ["cancel", "replace"]

log = logging.getLogger(__name__)

_RECEIPT_MASK = 0x03


async def _message(ctx: Context, account: gq.Account, message_id: str) -> Any:
    """The account's `smpp_batches` row of `message_id`, or None."""
    async with ctx.db.read() as conn:
        return (await conn.execute(select(smpp_batches).where(
            smpp_batches.c.batch_id == message_id, smpp_batches.c.system_id == account.system_id))).first()


async def _unsent(ctx: Context, batch_id: str) -> int:
    async with ctx.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(deliveries)
                                       .where(deliveries.c.batch_id == batch_id, UNSENT))).scalar_one())


def _same_source(pdu_source: str, row: Any) -> bool:
    return not pdu_source or pdu_source.lstrip("+") == row.source_addr


async def cancel(ctx: Context, account: gq.Account, pdu: CancelSm) -> int:
    """The cancel_sm_resp status for `pdu`, having cancelled what it names."""
    if not pdu.message_id:
        return await _cancel_between(ctx, account, pdu.source_addr, pdu.destination_addr)
    async with ctx.db.write() as conn:
        if await sq.delete_waiting(conn, account.system_id, pdu.message_id):
            log.info("smpp gateway: %s cancelled concatenated message %s before its last part",
                     account.system_id, pdu.message_id)
            return CommandStatus.ESME_ROK
    row = await _message(ctx, account, pdu.message_id)
    if row is None:
        return CommandStatus.ESME_RINVMSGID
    if not _same_source(pdu.source_addr, row):
        return CommandStatus.ESME_RINVSRCADR
    return CommandStatus.ESME_ROK if await _cancel_batch(ctx, account, row.batch_id) else CommandStatus.ESME_RCANCELFAIL


async def _cancel_batch(ctx: Context, account: gq.Account, batch_id: str) -> bool:
    """Cancel one message; whether it was still to be sent (and now is not)."""
    if not await _unsent(ctx, batch_id):
        return False
    await do_cancel(ctx, account.project_id, batch_id)
    async with ctx.db.read() as conn:
        cancelled = (await conn.execute(select(func.count()).select_from(deliveries).where(
            deliveries.c.batch_id == batch_id, deliveries.c.status == Status.CANCELLED.value))).scalar_one()
    return bool(cancelled)


async def _cancel_between(ctx: Context, account: gq.Account, source: str, destination: str) -> int:
    if not source or not destination:
        return CommandStatus.ESME_RCANCELFAIL
    query = (select(smpp_batches.c.batch_id).distinct()
             .select_from(smpp_batches.join(deliveries, deliveries.c.batch_id == smpp_batches.c.batch_id))
             .where(smpp_batches.c.system_id == account.system_id,
                    smpp_batches.c.destination_addr == destination.lstrip("+"),
                    smpp_batches.c.source_addr == source.lstrip("+"), UNSENT))
    async with ctx.db.read() as conn:
        batch_ids = list(await conn.scalars(query))
    cancelled = [batch_id for batch_id in batch_ids if await _cancel_batch(ctx, account, batch_id)]
    log.info("smpp gateway: %s cancelled %d messages from %s to %s", account.system_id, len(cancelled), source,
             destination)
    return CommandStatus.ESME_ROK if cancelled else CommandStatus.ESME_RCANCELFAIL


async def replace(ctx: Context, account: gq.Account, pdu: ReplaceSm) -> int:
    """The replace_sm_resp status for `pdu`, having replaced the message it names."""
    row = await _message(ctx, account, pdu.message_id)
    if row is None:
        async with ctx.db.read() as conn:
            coming = await sq.waiting(conn, account.system_id, pdu.message_id)
        return CommandStatus.ESME_RREPLACEFAIL if coming else CommandStatus.ESME_RINVMSGID
    if not _same_source(pdu.source_addr, row):
        return CommandStatus.ESME_RINVSRCADR
    if not pdu.short_message:
        return CommandStatus.ESME_RINVMSGLEN
    now = ctx.clock()
    try:
        send_at = parse_smpp_time(pdu.schedule_delivery_time, now, status=CommandStatus.ESME_RINVSCHED)
        expire_at = parse_smpp_time(pdu.validity_period, now, status=CommandStatus.ESME_RINVEXPIRY)
    except SubmitRefused as exc:
        return exc.status
    async with ctx.db.read() as conn:
        batch = (await conn.execute(select(batches).where(batches.c.id == row.batch_id))).first()
        recipients = list(await conn.scalars(select(deliveries.c.recipient).where(
            deliveries.c.batch_id == row.batch_id)))
    if batch is None or batch.canceled or not await _unsent(ctx, row.batch_id):
        return CommandStatus.ESME_RREPLACEFAIL
    payload: dict[str, Any] = {
        "to": recipients, "from": batch.sender, "delivery_report": batch.delivery_report, "purpose": batch.purpose,
    }
    for field in ("from_ton", "from_npi"):  # the sender goes out as the first submit_sm gave it
        if batch._mapping[field] is not None:
            payload[field] = batch._mapping[field]
    if batch.type == "mt_binary":
        # 8-bit data: the new user data whole, its header first when the message had one (the
        # submit's esm_class still holds for it).
        try:
            header, data = split_data(pdu.short_message, udhi=bool(batch.udh))
        except SubmitRefused as exc:
            return exc.status
        payload.update(binary_payload(header, data))
        head = data_head(header, data)
    else:
        text = decode(pdu.short_message, row.data_coding or 0)
        payload.update(body=text, flash_message=batch.flash_message)
        head = text[:RECEIPT_TEXT_CHARS].encode("latin-1", "replace").decode("latin-1")
    if expire_at is None and send_at is None:
        expire_at = batch.expire_at_ms  # neither given: both kept (a new schedule, the default expiry)
    send_at = send_at if send_at is not None else batch.send_at_ms
    if send_at is not None and send_at > now:
        payload["send_at"] = iso(send_at)
    if expire_at is not None and expire_at > now:
        payload["expire_at"] = iso(expire_at)
    try:
        await do_replace(ctx, account.project_id, row.batch_id, payload)
    except RequestError as exc:
        if exc.code == "batch_already_sent":
            return CommandStatus.ESME_RREPLACEFAIL
        status = status_for(exc)
        log.info("smpp gateway: %s replace_sm of %s refused 0x%08X: %s", account.system_id, row.batch_id, status,
                 exc.text)
        return status
    async with ctx.db.write() as conn:
        await conn.execute(update(smpp_batches).where(smpp_batches.c.batch_id == row.batch_id).values(
            registered_delivery=pdu.registered_delivery & _RECEIPT_MASK, text_head=head))
    return CommandStatus.ESME_ROK
