"""What an SMSC sends us in deliver_sm: delivery receipts and mobile-originated messages.

A concatenated MO arrives as several deliver_sm. Their responses are held back until every part
is here and the whole message is stored, so an SMSC never sees a part acknowledged that we could
still lose; if the parts stop coming, the held ones are refused with a transient error after
`REASSEMBLY_TIMEOUT` and the SMSC delivers them again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from tidings.core.encoding import decode, split_udh
from tidings.core.statuses import Code, Status
from tidings.smpp.constants import Ton
from tidings.smpp.pdu import DeliverSm
from tidings.smpp.receipt import DeliveryReceipt, ReceiptStat
from tidings.workers.events import MobileOriginated, Receipt

REASSEMBLY_TIMEOUT = 30.0

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
    status = _STATUS_BY_STAT.get(ReceiptStat(receipt.stat)) if receipt.stat in ReceiptStat.__members__ else None
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


@dataclass
class _Partial:
    parts: dict[int, str]
    total: int
    first_id: str | None
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


@dataclass
class Parsed:
    """The outcome of one MO deliver_sm.

    `message` is set when this PDU completes a message (store it, then `release()` the parts held
    back); otherwise `wait` is set: answer this PDU only when it resolves (it fails when the
    message stays incomplete, and the PDU is answered with a transient error to be redelivered).
    """

    message: MobileOriginated | None = None
    wait: asyncio.Future[None] | None = None
    held: list[asyncio.Future[None]] = field(default_factory=list)

    def release(self) -> None:
        for waiter in self.held:
            if not waiter.done():
                waiter.set_result(None)


class MoAssembler:
    """Collects the parts of concatenated MO messages, keyed by sender, recipient and reference."""

    def __init__(self, connection: str, timeout: float = REASSEMBLY_TIMEOUT) -> None:
        self.connection = connection
        self.timeout = timeout
        self._partial: dict[tuple[str, str, int], _Partial] = {}

    def parse(self, pdu: DeliverSm, smsc_id: str | None, at_ms: int) -> Parsed:
        sender = international(pdu.source_addr, pdu.source_addr_ton)
        recipient = international(pdu.destination_addr, pdu.dest_addr_ton)
        udh, payload = split_udh(pdu.short_message, pdu.esm_class)
        text = decode(payload, _alphabet(pdu.data_coding))
        if udh is None or udh.total <= 1:
            return Parsed(MobileOriginated(self.connection, smsc_id, sender, recipient, text, at_ms))
        key = (sender, recipient, udh.reference)
        partial = self._partial.get(key)
        if partial is None:
            partial = self._partial[key] = _Partial({}, udh.total, smsc_id)
            partial.timer = asyncio.get_running_loop().call_later(self.timeout, self._expire, key)
        partial.parts[udh.sequence] = text
        if len(partial.parts) < partial.total:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            partial.waiters.append(waiter)
            return Parsed(wait=waiter)
        del self._partial[key]
        if partial.timer is not None:
            partial.timer.cancel()
        body = "".join(partial.parts[i] for i in sorted(partial.parts))
        message = MobileOriginated(self.connection, partial.first_id, sender, recipient, body, at_ms)
        return Parsed(message=message, held=partial.waiters)

    def _expire(self, key: tuple[str, str, int]) -> None:
        partial = self._partial.pop(key, None)
        if partial is None:
            return
        for waiter in partial.waiters:
            if not waiter.done():
                waiter.set_exception(TimeoutError("concatenated MO incomplete"))


# data_coding with a message class (0x1X) names the alphabet in bits 2-3: 00 GSM, 10 UCS-2.
_CLASS_GROUP = 0x10
_CLASS_ALPHABET_UCS2 = 0x08


def _alphabet(data_coding: int) -> int:
    if data_coding & 0xF0 == _CLASS_GROUP:
        return 0x08 if data_coding & 0x0C == _CLASS_ALPHABET_UCS2 else 0x00
    return data_coding
