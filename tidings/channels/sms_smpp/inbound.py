"""What an SMSC sends us in deliver_sm: delivery receipts and mobile-originated messages.

A short MO becomes a `MobileOriginated`; each part of a concatenated one (a UDH with a
concatenation element, or the SAR TLVs) a `MoPart`, which the outcome writer stores durably and
joins with the others once they are all here (`tidings/workers/mo_assembly.py`).

An MO is binary (`mo_binary`) when its data coding is 8-bit data (0x04, 0x02 and their message
class forms) or its UDH has elements other than concatenation and the national language shifts
(which only say how a GSM text is read): application ports, SIM toolkit headers … Its payload is
kept as bytes (Base64 in the event), with those elements as a header of their own. Either is
written before the deliver_sm is answered, so an SMSC never sees acknowledged a part we could
still lose, and the parts of one message may come over different sessions or workers.
"""

from __future__ import annotations

import base64

from tidings.core.encoding import carries_data, decode, is_binary_coding
from tidings.core.statuses import Code, Status
from tidings.smpp.constants import Ton
from tidings.smpp.pdu import DataSm, DeliverSm
from tidings.smpp.receipt import DeliveryReceipt, ReceiptStat
from tidings.smpp.sar import numbered_message
from tidings.workers.events import MO_BINARY, MobileOriginated, MoPart, Receipt

_STATUS_BY_STAT = {
    ReceiptStat.DELIVRD: Status.DELIVERED,
    ReceiptStat.EXPIRED: Status.EXPIRED,
    ReceiptStat.DELETED: Status.DELETED,
    ReceiptStat.UNDELIV: Status.FAILED,
    ReceiptStat.UNKNOWN: Status.UNKNOWN,
    ReceiptStat.REJECTD: Status.REJECTED,
}


def receipt_event(connection: str, receipt: DeliveryReceipt, at_ms: int) -> Receipt | None:
    """The status change a receipt reports; None for intermediate ones (ENROUTE, ACCEPTD)."""
    stat = receipt.stat or ""
    status = _STATUS_BY_STAT.get(ReceiptStat(stat)) if stat in ReceiptStat.__members__ else None
    if status is None:
        return None
    code = Code.DELIVERED
    if status is not Status.DELIVERED:
        code = _error_code(receipt) or (Code.INTERNAL_EXPIRY if status is Status.EXPIRED else Code.INTERNAL_ERROR)
    return Receipt(connection, receipt.message_id, status, code, at_ms)


def _error_code(receipt: DeliveryReceipt) -> int:
    if receipt.network_error is not None:
        return receipt.network_error[1]
    if receipt.error and receipt.error.isdigit():
        return int(receipt.error)
    return 0


def international(addr: str, ton: int) -> str:
    return "+" + addr if ton == Ton.INTERNATIONAL and addr.isdigit() else addr


def mo_event(connection: str, pdu: DeliverSm | DataSm, at_ms: int) -> MobileOriginated | MoPart:
    """The MO a deliver_sm or data_sm (that is not a receipt) carries: whole, or one part of a
    longer one.

    Payload, numbering and the header's other elements are read by `smpp.sar.numbered_message`;
    numbering that cannot be a part (sequence 0 or past the total) is taken as a whole message
    rather than waited for forever.
    """
    sender = international(pdu.source_addr, pdu.source_addr_ton)
    recipient = international(pdu.destination_addr, pdu.dest_addr_ton)
    udh, elements, payload = numbered_message(pdu)
    binary = is_binary_coding(pdu.data_coding) or carries_data(elements)
    if udh is None or not 1 <= udh.sequence <= udh.total or udh.total == 1:
        if binary:
            return MobileOriginated(connection, None, sender, recipient, base64.b64encode(payload).decode("ascii"),
                                    at_ms, MO_BINARY, elements.hex() or None)
        return MobileOriginated(connection, None, sender, recipient, decode(payload, pdu.data_coding), at_ms)
    return MoPart(connection, None, sender, recipient, udh.reference, udh.total, udh.sequence, pdu.data_coding,
                  payload, at_ms, elements if binary and elements else None)

