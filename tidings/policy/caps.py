"""Frequency caps and collapse keys: how many messages of a purpose a contact may get, and which
identical informational messages fold into one (docs/subsystems/policy.md).

Caps count every message dispatched to the contact on any channel (the gate records each one in
the `policy_sends` ledger) over rolling windows ending now: a "day" is the last 24 hours, a
"week" the last 7 × 24 hours. Defaults: at most 1 engagement message a day and 3 a week;
information and satisfaction uncapped; security (and the platform's own `system` replies) are
always exempt and cannot be capped.

A collapse key names "the same message": the caller's explicit `collapse_key`, else (when the
project turns on `collapse_identical_bodies`) a hash of recipient and body. An informational
message whose key was already sent to the contact within `collapse_window_ms` is refused as
`collapsed`.

Reason codes (each with the XMS delivery report code it is reported with, status Rejected):

    frequency_cap   487   the contact already got the purpose's cap within a window
    collapsed       488   an identical informational message went to the contact within the window
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "COLLAPSED",
    "DAY_MS",
    "DEFAULT_CAPS",
    "EXEMPT",
    "FREQUENCY_CAP",
    "REASON_CODES",
    "WEEK_MS",
    "CapRule",
    "collapse_key",
    "exceeded",
]

DAY_MS = 24 * 3600 * 1000
WEEK_MS = 7 * DAY_MS

FREQUENCY_CAP = "frequency_cap"
COLLAPSED = "collapsed"
REASON_CODES: Mapping[str, int] = {FREQUENCY_CAP: 487, COLLAPSED: 488}

# Purposes no cap, quiet hour or collapse ever applies to.
EXEMPT = frozenset({"security", "system"})


@dataclass(frozen=True)
class CapRule:
    """At most `per_day` messages in any 24 hours and `per_week` in any 7 days (None: no limit)."""

    per_day: int | None = None
    per_week: int | None = None

    def windows(self) -> tuple[tuple[str, int, int], ...]:
        """(name, window length ms, limit) for each limit that is set."""
        out = []
        if self.per_day is not None:
            out.append(("day", DAY_MS, self.per_day))
        if self.per_week is not None:
            out.append(("week", WEEK_MS, self.per_week))
        return tuple(out)


DEFAULT_CAPS: Mapping[str, CapRule] = {"engagement": CapRule(per_day=1, per_week=3)}


def exceeded(rule: CapRule | None, sent_ms: Iterable[int], now: int) -> str | None:
    """The name of the first window ("day", "week") another message would exceed, else None.
    `sent_ms`: when each earlier message of the purpose went to the contact."""
    if rule is None:
        return None
    times = list(sent_ms)
    for name, length, limit in rule.windows():
        if sum(1 for t in times if now - length < t <= now) >= limit:
            return name
    return None


def collapse_key(explicit: str | None, recipient: str, body: str) -> str:
    """The message's collapse key: the caller's own (namespaced so it never equals a hash), else
    a SHA-256 of recipient and body. At most 64 characters."""
    if explicit:
        digest = hashlib.sha256(explicit.encode()).hexdigest()[:56]
        return f"k:{digest}"
    return "h:" + hashlib.sha256(f"{recipient}\x00{body}".encode()).hexdigest()[:56]
