"""Verification methods, statuses and reasons, with the one legal transition out of PENDING.

    PENDING ──correct code──────────▶ SUCCESSFUL
       ├────too many wrong codes────▶ FAIL      (reason "Invalid code")
       ├────expired─────────────────▶ FAIL      (reason "Expired")
       ├────callback denied─────────▶ DENIED    (reason "Denied by callback")
       ├────could not be sent───────▶ ERROR     (reason "Network error or number unreachable")
       └────replaced by a new start─▶ ABORTED
Every final status is final: no move out of it.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["FINAL", "METHODS", "Method", "Reason", "Status", "can_transition"]


class Method(StrEnum):
    SMS = "sms"
    FLASH_CALL = "flashCall"
    CALLOUT = "callout"
    WHATSAPP = "whatsapp"
    EMAIL = "email"


METHODS = frozenset(m.value for m in Method)


class Status(StrEnum):
    PENDING = "PENDING"
    SUCCESSFUL = "SUCCESSFUL"
    FAIL = "FAIL"
    DENIED = "DENIED"
    ABORTED = "ABORTED"
    ERROR = "ERROR"


FINAL = frozenset({Status.SUCCESSFUL, Status.FAIL, Status.DENIED, Status.ABORTED, Status.ERROR})


class Reason(StrEnum):
    """Sinch's reason strings (`VerificationResultEvent.reason`)."""

    INVALID_CODE = "Invalid code"
    INVALID_CLI = "Invalid CLI"
    EXPIRED = "Expired"
    DENIED_BY_CALLBACK = "Denied by callback"
    INVALID_CALLBACK = "Invalid callback"
    NETWORK_ERROR = "Network error or number unreachable"
    FRAUD = "Fraud"
    BLOCKED = "Blocked"


def can_transition(old: Status, new: Status) -> bool:
    return old is Status.PENDING and new is not Status.PENDING
