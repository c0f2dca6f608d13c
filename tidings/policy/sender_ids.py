"""Sender IDs: whether a sender may be used towards a destination country, pure.

A project keeps a registry of its senders (long codes, short codes, alphanumeric IDs), each with a
registration status per country (a US 10DLC campaign, a UK alphanumeric registration, an Indian
DLT header…), and a policy: `off` (nothing checked), `reject` (a non-compliant send is Rejected),
or `rewrite` (it goes out from the project's default sender for that country when that one is
compliant, else it is Rejected). `decide` is what every send path calls:

    sender_not_allowed     491  the kind of sender cannot be used in the destination country
                                (alphanumeric in the US, Canada, China…)
    sender_not_registered  492  the country requires a registration for this kind of sender and the
                                registry has none in status `registered`
    unmatched_default_originator
                           410  a send without a sender (XMS `from` left out) to a country the
                                policy's `defaults` name no sender for (Sinch's automatic default
                                originator: that recipient alone is Aborted, the rest are sent)

A send without a sender goes out from `defaults[country]` whatever the mode (the defaults are the
project's default originators); under `reject` and `rewrite` that sender is then checked like any.

`COUNTRY_RULES` approximates national rules (docs/subsystems/routing.md#sender-ids): it is a
starting point a deployment may extend, not legal advice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tidings.core.calling_codes import country_of

__all__ = [
    "COUNTRY_RULES",
    "KINDS",
    "MODES",
    "REASON_CODES",
    "CountryRule",
    "RegisteredSender",
    "SenderDecision",
    "SenderPolicy",
    "decide",
    "kind_of",
]

LONG_CODE, SHORT_CODE, ALPHANUMERIC = "long_code", "short_code", "alphanumeric"
KINDS = (LONG_CODE, SHORT_CODE, ALPHANUMERIC)
MODES = ("off", "reject", "rewrite")
REGISTERED = "registered"
STATUSES = (REGISTERED, "pending", "rejected")
SENDER_NOT_ALLOWED = "sender_not_allowed"
SENDER_NOT_REGISTERED = "sender_not_registered"
UNMATCHED_DEFAULT_ORIGINATOR = "unmatched_default_originator"
REASON_CODES: Mapping[str, int] = {SENDER_NOT_ALLOWED: 491, SENDER_NOT_REGISTERED: 492,
                                   UNMATCHED_DEFAULT_ORIGINATOR: 410}
SHORT_CODE_MAX_DIGITS = 8


@dataclass(frozen=True)
class CountryRule:
    allowed: frozenset[str] = frozenset(KINDS)
    registration_required: frozenset[str] = frozenset()


COUNTRY_RULES: Mapping[str, CountryRule] = {
    # 10DLC: application-to-person traffic on long codes needs a registered campaign; short codes
    # are leased and approved per program; alphanumeric senders do not exist.
    "US": CountryRule(frozenset({LONG_CODE, SHORT_CODE}), frozenset({LONG_CODE, SHORT_CODE})),
    "CA": CountryRule(frozenset({LONG_CODE, SHORT_CODE}), frozenset({SHORT_CODE})),
    # DLT: every header (alphanumeric or numeric) and template is registered.
    "IN": CountryRule(frozenset(KINDS), frozenset(KINDS)),
    # SMS SenderID Protection Registry (approximated as required).
    "GB": CountryRule(frozenset(KINDS), frozenset({ALPHANUMERIC})),
    "AE": CountryRule(frozenset({ALPHANUMERIC, SHORT_CODE}), frozenset({ALPHANUMERIC})),
    "SA": CountryRule(frozenset({ALPHANUMERIC, SHORT_CODE}), frozenset({ALPHANUMERIC})),
    "SG": CountryRule(frozenset(KINDS), frozenset({ALPHANUMERIC})),
    "CN": CountryRule(frozenset({LONG_CODE, SHORT_CODE}), frozenset({LONG_CODE, SHORT_CODE})),
    "BR": CountryRule(frozenset({LONG_CODE, SHORT_CODE})),
}
DEFAULT_RULE = CountryRule()


@dataclass(frozen=True)
class RegisteredSender:
    address: str
    kind: str
    registrations: Mapping[str, str] = field(default_factory=dict)  # country -> status

    def registered_in(self, country: str) -> bool:
        return self.registrations.get(country) == REGISTERED


@dataclass(frozen=True)
class SenderPolicy:
    mode: str = "off"
    defaults: Mapping[str, str] = field(default_factory=dict)  # country -> sender address


@dataclass(frozen=True)
class SenderDecision:
    action: str  # "send", "rewrite" or "reject"
    sender: str | None
    reason: str | None = None

    @property
    def code(self) -> int | None:
        return REASON_CODES.get(self.reason) if self.reason else None


def kind_of(address: str) -> str:
    digits = address.removeprefix("+")
    if digits.isdigit() and digits.isascii():
        return SHORT_CODE if len(digits) <= SHORT_CODE_MAX_DIGITS and not address.startswith("+") else LONG_CODE
    return ALPHANUMERIC



def _violation(sender: str, country: str, registry: Mapping[str, RegisteredSender]) -> str | None:
    rule = COUNTRY_RULES.get(country, DEFAULT_RULE)
    entry = registry.get(sender)
    kind = entry.kind if entry is not None else kind_of(sender)
    if kind not in rule.allowed:
        return SENDER_NOT_ALLOWED
    if kind in rule.registration_required and (entry is None or not entry.registered_in(country)):
        return SENDER_NOT_REGISTERED
    return None


def decide(sender: str | None, recipient: str, registry: Mapping[str, RegisteredSender],
           policy: SenderPolicy, rules: Mapping[str, CountryRule] | None = None) -> SenderDecision:
    """What to do with a send from `sender` to `recipient` under the project's registry and policy;
    no `sender`: the policy's default for the recipient's country, or a reject when it has none."""
    if policy.mode == "off" and sender:
        return SenderDecision("send", sender)  # the usual case: no lookup
    country = country_of(recipient)
    if not sender:
        sender = policy.defaults.get(country) if country is not None else None
        if not sender:
            return SenderDecision("reject", None, UNMATCHED_DEFAULT_ORIGINATOR)
    if policy.mode == "off" or country is None:
        return SenderDecision("send", sender)
    reason = _violation(sender, country, registry)
    if reason is None:
        return SenderDecision("send", sender)
    if policy.mode == "rewrite":
        default = policy.defaults.get(country)
        if default and _violation(default, country, registry) is None:
            return SenderDecision("rewrite", default, reason)
    return SenderDecision("reject", sender, reason)
