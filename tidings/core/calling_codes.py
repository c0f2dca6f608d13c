"""What a number's leading digits say without parsing it: its country calling code, and its
country when the code belongs to one country only.

Calling codes are prefix-free (ITU-T E.164): at most one of a number's first one, two or three
digits is an assigned code, so reading it off costs under a microsecond where
`phonenumbers.parse` (and the region lookup after it) costs 10–50 µs. The send path asks for a
number's destination, country or time zone on nearly every message and meets new numbers all
the time (a campaign's recipients), so caches alone do not spare it that cost. The codes and
their countries are `phonenumbers`' own tables.
"""

from __future__ import annotations

import phonenumbers

__all__ = ["calling_code", "country_of", "sole_region"]

_REGIONS = phonenumbers.COUNTRY_CODE_TO_REGION_CODE  # calling code -> its regions, main one first
NON_GEOGRAPHIC = "001"
UNKNOWN_REGION = "ZZ"


def calling_code(digits: str) -> int | None:
    """The assigned calling code `digits` (a number without its '+') starts with, else None."""
    for length in (1, 2, 3):
        head = digits[:length]
        if len(head) == length and head.isdigit() and head.isascii() and head[0] != "0" and int(head) in _REGIONS:
            return int(head)
    return None


def sole_region(number: str) -> str | None:
    """The country (ISO 3166 alpha-2) of an E.164 `number` ('+' and digits) whose calling code
    belongs to that country alone (+46 SE, +49 DE …); None for a code shared by several (+1, +7,
    +44 …), a non-geographic one (+800 …), or anything that is not '+' and digits."""
    digits = number[1:]
    if not number.startswith("+") or not digits.isdigit() or not digits.isascii():
        return None
    code = calling_code(digits)
    regions = _REGIONS.get(code) if code is not None else None
    if regions is None or len(regions) != 1 or regions[0] == NON_GEOGRAPHIC:
        return None
    return regions[0]


def country_of(number: str) -> str | None:
    """The country (ISO 3166 alpha-2) of an E.164 `number`; for one outside every allocated
    range, the main country of its calling code; None for a non-geographic number or anything
    that is not '+' and digits. A calling code of one country answers without parsing."""
    if not number.startswith("+"):
        return None
    sole = sole_region(number)
    if sole is not None:
        return sole
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(parsed)
    if not region and parsed.country_code is not None:
        region = phonenumbers.region_code_for_country_code(parsed.country_code)
    return region if region and region not in (NON_GEOGRAPHIC, UNKNOWN_REGION) else None
