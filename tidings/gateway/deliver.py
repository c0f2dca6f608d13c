"""The deliver_sm the gateway sends its customers, and the outcome writer's hooks that queue them.

Both hooks run inside the outcome writer's transaction (`tidings/workers/writer.py`), so a status
change or a stored MO and the deliver_sm that reports it commit together or not at all, the same
way webhook rows do:

- `record_transitions`: a final status of a batch submitted over SMPP with registered_delivery
  becomes a receipt (esm_class 0x04, receipted_message_id = the batch id, message_state, and the
  appendix-B text `id:… stat:… err:… text:…`). registered_delivery 1 asks for every final
  outcome, 2 for failures only, 3 (SMPP 5.0) for successes only.
- `record_mos`: an MO routed to a project becomes deliver_sm (segmented with a concatenation UDH
  when long) for each SMPP account of the service plan it was routed to (or of the project, when
  no plan is known) that has bound at least once. A binary MO (`mo_binary`) goes as 8-bit
  data (data_coding 4), its header's elements first (UDHI), in concatenated parts when header
  and data exceed one SMS — the bytes the handset sent, never its Base64 read as text.

`smpp_outbox` rows hold the encoded PDUs; `tidings.gateway.sender` delivers them.
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.core.encoding import segment, segment_binary
from tidings.core.statuses import Status
from tidings.smpp.constants import HEADER_SIZE, DataCoding, EsmClass, MessageState, Npi, Ton
from tidings.smpp.pdu import DeliverSm, decode
from tidings.smpp.receipt import DeliveryReceipt, ReceiptStat, receipt_pdu
from tidings.store import gateway as gq

if TYPE_CHECKING:
    from tidings.workers.writer import Transition

__all__ = [
    "MO",
    "RECEIPT",
    "RECEIPT_STATES",
    "decode_pdus",
    "encode_pdus",
    "mo_pdus",
    "receipt_deliver_sm",
    "record_mos",
    "record_transitions",
    "wants_receipt",
]

log = logging.getLogger(__name__)

RECEIPT = "receipt"
MO = "mo"
SHORT_CODE_MAX_DIGITS = 8

_RECEIPT_ALL, _RECEIPT_FAILURE, _RECEIPT_SUCCESS = 1, 2, 3
RECEIPT_STATES: dict[Status, tuple[ReceiptStat, MessageState]] = {
    Status.DELIVERED: (ReceiptStat.DELIVRD, MessageState.DELIVERED),
    Status.FAILED: (ReceiptStat.UNDELIV, MessageState.UNDELIVERABLE),
    Status.EXPIRED: (ReceiptStat.EXPIRED, MessageState.EXPIRED),
    Status.REJECTED: (ReceiptStat.REJECTD, MessageState.REJECTED),
    Status.ABORTED: (ReceiptStat.REJECTD, MessageState.REJECTED),
    Status.DELETED: (ReceiptStat.DELETED, MessageState.DELETED),
    Status.CANCELLED: (ReceiptStat.DELETED, MessageState.DELETED),
    Status.UNKNOWN: (ReceiptStat.UNKNOWN, MessageState.UNKNOWN),
}


def wants_receipt(mode: int, status: Status) -> bool:
    """Whether registered_delivery `mode` asks for a receipt of final `status`."""
    mode &= 0x03
    if mode == _RECEIPT_ALL:
        return True
    if mode == _RECEIPT_FAILURE:
        return status is not Status.DELIVERED
    if mode == _RECEIPT_SUCCESS:
        return status is Status.DELIVERED
    return False


def _naive_utc(at_ms: int) -> datetime:
    return datetime.fromtimestamp(at_ms / 1000, UTC).replace(tzinfo=None)


def receipt_deliver_sm(batch: Any, status: Status, code: int, at_ms: int) -> DeliverSm:
    """The receipt for an `smpp_batches` row reaching `status`: from the handset, to the sender."""
    stat, state = RECEIPT_STATES[status]
    delivered = status is Status.DELIVERED
    receipt = DeliveryReceipt(
        message_id=batch.batch_id,
        stat=stat,
        message_state=state,
        submitted=1,
        delivered=1 if delivered else 0,
        submit_date=_naive_utc(batch.submitted_ms),
        done_date=_naive_utc(at_ms),
        error=f"{code:03d}",
        text=batch.text_head,
    )
    return receipt_pdu(
        receipt,
        source_addr=batch.destination_addr,
        source_addr_ton=batch.dest_addr_ton,
        source_addr_npi=batch.dest_addr_npi,
        destination_addr=batch.source_addr,
        dest_addr_ton=batch.source_addr_ton,
        dest_addr_npi=batch.source_addr_npi,
    )


def _wire_address(value: str) -> tuple[str, int, int]:
    """(address, ton, npi): '+…' international, a few digits a short code, other digits
    international, anything else alphanumeric."""
    if value.startswith("+") and value[1:].isdigit():
        return value[1:], Ton.INTERNATIONAL, Npi.ISDN
    if value.isdigit():
        if len(value) <= SHORT_CODE_MAX_DIGITS:
            return value, Ton.NETWORK_SPECIFIC, Npi.UNKNOWN
        return value, Ton.INTERNATIONAL, Npi.ISDN
    return value, Ton.ALPHANUMERIC, Npi.UNKNOWN


def mo_pdus(sender: str, recipient: str, body: str, reference: int) -> list[DeliverSm]:
    """An MO as deliver_sm: one, or one per part with a concatenation UDH."""
    encoded = segment(body or " ", reference=reference)
    source, source_ton, source_npi = _wire_address(sender)
    destination, dest_ton, dest_npi = _wire_address(recipient)
    return [
        DeliverSm(
            source_addr=source, source_addr_ton=source_ton, source_addr_npi=source_npi,
            destination_addr=destination, dest_addr_ton=dest_ton, dest_addr_npi=dest_npi,
            esm_class=EsmClass.UDHI if encoded.udhi else EsmClass.DEFAULT,
            data_coding=encoded.data_coding, short_message=part,
        )
        for part in encoded.parts
    ]


def binary_mo_pdus(sender: str, recipient: str, body: str, udh: str | None, reference: int) -> list[DeliverSm]:
    """A binary MO (`mo_binary`: Base64 `body`, its header's elements in hex `udh`) as deliver_sm
    with data_coding 4: the header and data in one, or in parts whose headers add a concatenation
    element (`segment_binary`). Raises ValueError (`TooManyParts` beyond 255 parts)."""
    header = bytes.fromhex(udh) if udh else b""
    parts = segment_binary(base64.b64decode(body), header, reference=reference)
    with_header = bool(header) or len(parts) > 1
    source, source_ton, source_npi = _wire_address(sender)
    destination, dest_ton, dest_npi = _wire_address(recipient)
    return [
        DeliverSm(
            source_addr=source, source_addr_ton=source_ton, source_addr_npi=source_npi,
            destination_addr=destination, dest_addr_ton=dest_ton, dest_addr_npi=dest_npi,
            esm_class=EsmClass.UDHI if with_header else EsmClass.DEFAULT,
            data_coding=DataCoding.OCTET_UNSPECIFIED_COMMON, short_message=part,
        )
        for part in parts
    ]


def encode_pdus(pdus: Iterable[DeliverSm]) -> bytes:
    return b"".join(pdu.encode() for pdu in pdus)


def decode_pdus(blob: bytes) -> list[DeliverSm]:
    pdus = []
    pos = 0
    while pos + HEADER_SIZE <= len(blob):
        length = int.from_bytes(blob[pos : pos + 4], "big")
        pdu = decode(blob[pos : pos + length])
        assert isinstance(pdu, DeliverSm)
        pdus.append(pdu)
        pos += length
    return pdus


async def record_transitions(conn: AsyncConnection, transitions: Sequence[Transition], now: int) -> None:
    """Queue receipts for final statuses of SMPP batches that asked for them."""
    final = [t for t in transitions if t.new.is_final]
    if not final:
        return
    batches = await gq.smpp_batches_by_id(conn, {t.batch_id for t in final})
    if not batches:
        return
    rows = []
    for t in final:
        batch = batches.get(t.batch_id)
        if batch is None or not wants_receipt(batch.registered_delivery, t.new):
            continue
        pdu = receipt_deliver_sm(batch, t.new, t.code, t.at_ms)
        rows.append(gq.outbox_row(batch.system_id, RECEIPT, encode_pdus([pdu]), now))
    await gq.enqueue(conn, rows)


async def record_mos(conn: AsyncConnection, inbounds: Sequence[dict[str, Any]], now: int) -> None:
    """Queue deliver_sm for stored MO rows (`inbounds` table rows) routed to a project: text as
    GSM or UCS-2, binary as 8-bit data with its header."""
    routed = [r for r in inbounds if r.get("project_id")]
    if not routed:
        return
    plans = {r["service_plan_id"] for r in routed if r.get("service_plan_id")}
    projects = {r["project_id"] for r in routed if not r.get("service_plan_id")}
    accounts = await gq.accounts_for_plans(conn, plans, projects)
    if not accounts:
        return
    rows = []
    for r in routed:
        plan = r.get("service_plan_id")
        targets = [a for a in accounts if (a[2] == plan if plan else a[1] == r["project_id"])]
        if not targets:
            continue
        reference = secrets.randbelow(256)
        if r.get("type", "mo_text") == "mo_binary":
            try:
                pdus = binary_mo_pdus(r["sender"], r["recipient"], r["body"], r.get("udh"), reference)
            except ValueError as exc:  # TooManyParts, or a header that leaves no room for data
                log.warning("binary MO %s from %s cannot be forwarded over SMPP: %s", r["id"], r["sender"], exc)
                continue
        else:
            pdus = mo_pdus(r["sender"], r["recipient"], r["body"], reference)
        blob = encode_pdus(pdus)
        rows += [gq.outbox_row(system_id, MO, blob, now) for system_id, _, _ in targets]
    await gq.enqueue(conn, rows)
