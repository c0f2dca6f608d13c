"""Per-recipient SMS delivery status: the XMS statuses, their codes, and the legal transitions.

A status only moves forward. Late or duplicate receipts that would move a recipient backwards
(Delivered -> Dispatched) or sideways between final states (Delivered -> Failed) are refused by
`can_transition`, so every writer can apply receipts blindly and in any order.
"""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    QUEUED = "Queued"
    DISPATCHED = "Dispatched"
    ABORTED = "Aborted"
    CANCELLED = "Cancelled"
    REJECTED = "Rejected"
    DELETED = "Deleted"
    DELIVERED = "Delivered"
    FAILED = "Failed"
    EXPIRED = "Expired"
    UNKNOWN = "Unknown"

    @property
    def is_final(self) -> bool:
        return self not in _NOT_FINAL  # a set made once: building the pair per call cost 8x as much


_NOT_FINAL = frozenset((Status.QUEUED, Status.DISPATCHED))


class Code:
    """XMS delivery report codes (the REST API's own; SMPP error codes pass through as-is)."""

    DELIVERED = 0
    QUEUED = 400
    DISPATCHED = 401
    UNROUTABLE = 402
    INTERNAL_ERROR = 403
    TEMPORARY_FAILURE = 404
    UNMATCHED_PARAMETER = 405
    INTERNAL_EXPIRY = 406
    CANCELLED = 407
    INTERNAL_REJECT = 408
    UNMATCHED_DEFAULT_ORIGINATOR = 410
    EXCEEDED_PARTS_LIMIT = 411
    UNPROVISIONED_REGION = 412
    BLOCKED = 413


# Statuses a receipt or action may move a recipient to, from each status.
_FROM_SMSC = frozenset(
    {Status.DELIVERED, Status.FAILED, Status.EXPIRED, Status.REJECTED, Status.DELETED, Status.UNKNOWN}
)
_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.QUEUED: frozenset({Status.DISPATCHED, Status.ABORTED, Status.CANCELLED} | _FROM_SMSC),
    Status.DISPATCHED: _FROM_SMSC,
    # Unknown is reported when an SMSC says so; a later definite receipt still tells the truth.
    Status.UNKNOWN: _FROM_SMSC - {Status.UNKNOWN},
}


def can_transition(current: Status, new: Status) -> bool:
    return new in _TRANSITIONS.get(current, frozenset())


def sources_for(new: Status) -> tuple[Status, ...]:
    """Every status from which `new` may be reached: the WHERE clause of a guarded update."""
    return tuple(s for s, targets in _TRANSITIONS.items() if new in targets)


# Default code for each status when the SMSC gives none.
DEFAULT_CODE: dict[Status, int] = {
    Status.QUEUED: Code.QUEUED,
    Status.DISPATCHED: Code.DISPATCHED,
    Status.ABORTED: Code.INTERNAL_ERROR,
    Status.CANCELLED: Code.CANCELLED,
    Status.REJECTED: Code.INTERNAL_REJECT,
    Status.DELETED: Code.INTERNAL_ERROR,
    Status.DELIVERED: Code.DELIVERED,
    Status.FAILED: Code.INTERNAL_ERROR,
    Status.EXPIRED: Code.INTERNAL_EXPIRY,
    Status.UNKNOWN: Code.INTERNAL_ERROR,
}


_PART_FAILURES = (Status.FAILED, Status.REJECTED, Status.EXPIRED, Status.DELETED)


def aggregate_parts(parts: list[tuple[Status, int]]) -> tuple[Status, int] | None:
    """The status of a concatenated message from its parts' (status, code): the first failure,
    else Delivered once every part is, else Unknown once every part is final; None while any part
    is still in flight."""
    for status, code in parts:
        if status in _PART_FAILURES:
            return status, code
    if all(status is Status.DELIVERED for status, _ in parts):
        return Status.DELIVERED, Code.DELIVERED
    if all(status.is_final for status, _ in parts):
        return Status.UNKNOWN, next(code for status, code in parts if status is Status.UNKNOWN)
    return None


_ABORT_CODES = frozenset({
    Code.UNROUTABLE, Code.INTERNAL_ERROR, Code.UNMATCHED_PARAMETER,
    Code.UNMATCHED_DEFAULT_ORIGINATOR, Code.EXCEEDED_PARTS_LIMIT, Code.UNPROVISIONED_REGION,
    Code.BLOCKED,
})


def status_for_refusal(code: int) -> Status:
    """The status of a message refused before or at submission, from its code: the REST API's
    own refusal codes abort it, an internal reject rejects it, an internal expiry (expire_at
    passed while it waited to go out) expires it, and an SMSC's error fails it."""
    if code in _ABORT_CODES:
        return Status.ABORTED
    if code == Code.INTERNAL_REJECT:
        return Status.REJECTED
    if code == Code.INTERNAL_EXPIRY:
        return Status.EXPIRED
    return Status.FAILED
