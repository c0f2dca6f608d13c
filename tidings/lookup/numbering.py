"""What the numbering plan says about a phone number: E.164 form, country, line type, carrier.

Pure and offline (`phonenumbers` and its carrier prefix data); the facts Number Lookup answers
with when nothing better (the sandbox's live network) is known, and what the fraud guard uses to
refuse premium-rate, landline and VoIP destinations. Line types use one vocabulary across
Tidings (`tidings.core.line_types`, the sandbox handsets' too).
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import carrier

from tidings.core.line_types import LINE_TYPES, line_type_of

__all__ = ["LINE_TYPES", "NumberFacts", "number_facts"]

_MAX_DIGITS = 15


@dataclass(frozen=True)
class NumberFacts:
    e164: str  # "+46701234567"; for an invalid number, '+' and whatever digits were given
    valid: bool
    country: str | None  # ISO 3166-1 alpha-2
    line_type: str  # see LINE_TYPES
    carrier: str | None  # the original network operator of the number range, when known


def number_facts(number: str) -> NumberFacts:
    """The facts for `number` (E.164, '+' optional, spaces ignored). Never raises: anything that
    is not a valid number comes back with `valid=False`."""
    digits = "".join(number.split()).removeprefix("+")
    e164 = "+" + digits
    if not digits.isascii() or not digits.isdigit() or len(digits) > _MAX_DIGITS:
        return NumberFacts(e164, False, None, "unknown", None)
    try:
        parsed = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return NumberFacts(e164, False, None, "unknown", None)
    if not phonenumbers.is_valid_number(parsed):
        return NumberFacts(e164, False, phonenumbers.region_code_for_number(parsed), "unknown", None)
    line_type = line_type_of(parsed)
    name = carrier.name_for_number(parsed, "en") or None
    return NumberFacts(e164, True, phonenumbers.region_code_for_number(parsed), line_type, name)
