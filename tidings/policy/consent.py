"""Consent decisions: may a message of a given purpose go to a contact on a channel?

The ledger (`tidings.consent.ledger`) keeps, per project, contact identity, channel and purpose,
the latest opt-in or opt-out. A channel of "*" means every channel, a purpose of "*" means every
purpose ("everything"). `effective_status` resolves the four keys that apply to a (channel,
purpose) — (channel, purpose), (channel, *), (*, purpose), (*, *) — to the most recent of them, so
a later "START on SMS" overrides an earlier "opted out of everything everywhere" for SMS only.

`may_send(state, purpose, country, channel=…)` then decides (docs/subsystems/consent.md):

    engagement     needs an opt-in; in an opt-out-regime country (`ConsentRules.opt_out_countries`)
                   it goes unless the contact opted out
    information    goes unless the contact opted out (of information, or of everything)
    satisfaction   like information
    security       like information: refused only by an opt-out of everything (or an explicit
                   opt-out of security)
    system         consent confirmations and help replies: always allowed

Reason codes of a refusal (each with the XMS delivery report code it is reported with):

    consent_opted_out        485   the contact opted out of this purpose (or of everything)
    consent_missing          486   engagement without an opt-in, in an opt-in-regime country
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "ALL",
    "CONSENT_MISSING",
    "CONSENT_OPTED_OUT",
    "PURPOSES",
    "REASON_CODES",
    "SINCH_LISTS",
    "SYSTEM",
    "ConsentEntry",
    "ConsentRules",
    "Decision",
    "Status",
    "check_purpose",
    "effective_status",
    "may_send",
    "sinch_list_key",
]

ALL = "*"
ENGAGEMENT = "engagement"
INFORMATION = "information"
SECURITY = "security"
SATISFACTION = "satisfaction"
PURPOSES = (ENGAGEMENT, INFORMATION, SECURITY, SATISFACTION)
# Internal purpose of replies the platform itself sends (keyword confirmations, HELP, double
# opt-in requests): never refused by consent, not accepted from callers.
SYSTEM = "system"

CONSENT_OPTED_OUT = "consent_opted_out"
CONSENT_MISSING = "consent_missing"
# XMS per-recipient delivery report codes for consent refusals (status Rejected).
REASON_CODES: Mapping[str, int] = {CONSENT_OPTED_OUT: 485, CONSENT_MISSING: 486}

# Sinch Conversation API consent lists -> the ledger purpose they stand for.
SINCH_LISTS: Mapping[str, str] = {
    "OPT_OUT_ALL": ALL,
    "OPT_OUT_MARKETING": ENGAGEMENT,
    "OPT_OUT_NOTIFICATION": INFORMATION,
}


class Status(str, Enum):
    OPTED_IN = "opted_in"
    OPTED_OUT = "opted_out"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ConsentEntry:
    """The current state of one ledger key: the latest event's action and when it happened."""

    channel: str
    purpose: str
    opted_in: bool
    at_ms: int
    event_id: int = 0  # breaks ties between events of the same millisecond


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason_code: str | None = None
    status: Status = Status.UNKNOWN  # the effective status the decision was made on

    @property
    def xms_code(self) -> int | None:
        return REASON_CODES.get(self.reason_code) if self.reason_code else None


@dataclass(frozen=True)
class ConsentRules:
    """Per-project rules. `opt_out_countries`: ISO 3166 alpha-2 codes where engagement may go
    to a contact who never opted in (an opt-out regime), unless the contact opted out."""

    opt_out_countries: frozenset[str] = field(default_factory=frozenset)


def check_purpose(value: object, *, allow_all: bool = False) -> str:
    """A purpose named by a caller; ValueError otherwise."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in PURPOSES or (allow_all and lowered == ALL):
            return lowered
    allowed = ", ".join(PURPOSES + ((ALL,) if allow_all else ()))
    raise ValueError(f"purpose must be one of {allowed}")


def _latest(entries: Iterable[ConsentEntry]) -> ConsentEntry | None:
    best: ConsentEntry | None = None
    for e in entries:
        if best is None or (e.at_ms, e.event_id) > (best.at_ms, best.event_id):
            best = e
    return best


def effective_status(state: Collection[ConsentEntry], channel: str, purpose: str) -> Status:
    """The contact's status for `purpose` on `channel`: the latest of the applicable keys."""
    channels = {channel, ALL}
    purposes = {purpose, ALL}
    latest = _latest(e for e in state if e.channel in channels and e.purpose in purposes)
    if latest is None:
        return Status.UNKNOWN
    return Status.OPTED_IN if latest.opted_in else Status.OPTED_OUT


def may_send(state: Collection[ConsentEntry], purpose: str, country: str | None, *,
             channel: str = "SMS", rules: ConsentRules | None = None) -> Decision:
    """Whether a message of `purpose` may go to the contact whose ledger entries are `state`."""
    if purpose == SYSTEM:
        return Decision(True)
    status = effective_status(state, channel, purpose)
    if status is Status.OPTED_OUT:
        return Decision(False, CONSENT_OPTED_OUT, status)
    if purpose != ENGAGEMENT or status is Status.OPTED_IN:
        return Decision(True, None, status)
    rules = rules or ConsentRules()
    if country is not None and country.upper() in rules.opt_out_countries:
        return Decision(True, None, status)
    return Decision(False, CONSENT_MISSING, status)


def sinch_list_key(list_type: str) -> str:
    """The ledger purpose a Sinch consent list stands for; KeyError for an unknown list."""
    return SINCH_LISTS[list_type]
