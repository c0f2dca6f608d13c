"""What happens to a delivery after it is accepted, as plain records for the outcome writer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tidings.core.statuses import Status


@dataclass(slots=True)
class Dispatched:
    """An SMSC accepted every part; one SMSC message id per part."""

    delivery_id: int
    connection: str
    smsc_ids: list[str]
    at_ms: int
    # What it cost on that connection's price table (amount, currency), when it has a price.
    cost: tuple[float, str] | None = None


@dataclass(slots=True)
class Settled:
    """A final status reached without an SMSC receipt (failed submit, expired, cancelled)."""

    delivery_id: int
    status: Status
    code: int
    at_ms: int


@dataclass(slots=True)
class Released:
    """Give the delivery back for a later attempt (throttled, connection down)."""

    delivery_id: int
    due_ms: int


@dataclass(slots=True)
class Receipt:
    """A delivery receipt from an SMSC for one submitted part."""

    connection: str
    smsc_id: str
    status: Status
    code: int
    at_ms: int
    # The orphan row it was read from (the sweeper's rematch): deleted in the transaction that
    # records the receipt, so a process killed in between leaves it for the next sweep.
    orphan_id: int | None = None
    # Its receipt_inbox row (written before the SMSC was answered): deleted in the same way.
    inbox_id: int | None = None

    @classmethod
    def stored(cls, row: Any, *, orphan_id: int | None = None, inbox_id: int | None = None) -> Receipt:
        """A receipt read back from a table that keeps receipts (`orphan_receipts`, `receipt_inbox`)."""
        return cls(row.connection, row.smsc_message_id, Status(row.status), row.code, row.received_ms,
                   orphan_id=orphan_id, inbox_id=inbox_id)


MO_TEXT = "mo_text"
MO_BINARY = "mo_binary"


@dataclass(slots=True)
class MobileOriginated:
    """A message from a handset (MO), as received from an SMSC. A binary one (`kind` mo_binary:
    8-bit data, or a header with elements such as application ports) has its payload in Base64
    as `body` and the header's elements other than concatenation in hex, length octet first, as
    `udh` (None when there were none)."""

    connection: str
    smsc_id: str | None
    sender: str
    recipient: str
    body: str
    at_ms: int
    kind: str = MO_TEXT
    udh: str | None = None


@dataclass(slots=True)
class MoPart:
    """One part of a concatenated MO (UDH or SAR TLVs), as received; the writer stores it and,
    with the last part, the whole message (`tidings/workers/mo_assembly.py`)."""

    connection: str
    smsc_id: str | None
    sender: str
    recipient: str
    reference: int
    total: int
    sequence: int
    data_coding: int
    payload: bytes  # the part's text as sent, without its UDH: decoded once the parts are joined
    at_ms: int
    # A binary part's header elements other than concatenation (length octet first); None for
    # text and for 8-bit data without other elements (its data_coding says it is binary).
    udh: bytes | None = None

    @property
    def group(self) -> tuple[str, str, str, int, int]:
        return (self.connection, self.sender, self.recipient, self.reference, self.total)


@dataclass(slots=True)
class MoPartsOverdue:
    """A concatenated MO whose missing parts did not come in time: store what arrived of it."""

    group: tuple[str, str, str, int, int]


Event = Dispatched | Settled | Released | Receipt | MobileOriginated | MoPart | MoPartsOverdue
