"""Quiet hours: when a message may not reach a recipient, in the recipient's local time, and when
the next allowed moment is (docs/subsystems/policy.md#quiet-hours).

The time zone is the contact's own when it is known and valid (an IANA name), else the number's
per `phonenumbers.timezone`; for a country or prefix spanning several zones, the first zone
`phonenumbers` lists is used (e.g. +1 numbers without a more precise prefix map to
America/New_York). No zone at all: UTC.

A `Curfew` is a set of quiet windows: a daily (or per-weekday) span that may wrap past midnight,
and whole quiet days (weekdays, fixed-date holidays). Per-country defaults (`COUNTRY_CURFEWS`,
an approximation of each country's rules or codes of practice, documented in the policy doc):

    US, CA*  21:00–08:00            TCPA 47 CFR 64.1200(c)(1) (CA: CRTC, approximated the same)
    FR       20:00–08:00, Sundays and fixed-date public holidays all day
                                    (CNIL / Fédération Française des Télécoms SMS code of conduct)
    DE, GB, ES, IT, PT, BR, …       `DEFAULT_CURFEW` 21:00–08:00 (common practice)

`next_allowed(now_ms, zone, curfew)` returns None when the moment is not quiet, else the epoch
milliseconds at which every overlapping quiet window has ended.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as pn_timezone
from phonenumbers.tzdata import TIMEZONE_DATA

from tidings.core.calling_codes import calling_code, sole_region

__all__ = [
    "COUNTRY_CURFEWS",
    "DEFAULT_CURFEW",
    "QUIET_HOURS",
    "REASON_CODES",
    "Curfew",
    "Span",
    "country_of",
    "curfew_for",
    "next_allowed",
    "parse_clock",
    "zone_for",
]

QUIET_HOURS = "quiet_hours"
# XMS code a deferred recipient shows while it waits (status stays Queued).
REASON_CODES: Mapping[str, int] = {QUIET_HOURS: 489}

UTC = ZoneInfo("UTC")
_CLOCK = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)(?::([0-5]\d))?$")


def parse_clock(value: str) -> int:
    """"HH:MM" or "HH:MM:SS" (24:00 allowed) → seconds after midnight; ValueError otherwise."""
    m = _CLOCK.match(value.strip()) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f"{value!r} is not a time of day (HH:MM or HH:MM:SS)")
    seconds = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3) or 0)
    if seconds > 24 * 3600:
        raise ValueError(f"{value!r} is after 24:00")
    return seconds


@dataclass(frozen=True)
class Span:
    """Quiet from `start_s` to `end_s` seconds after local midnight of each day it starts on
    (`days`: weekdays, 0 = Monday; None = every day). `end_s <= start_s` wraps past midnight."""

    start_s: int
    end_s: int
    days: frozenset[int] | None = None

    @classmethod
    def of(cls, start: str, end: str, days: frozenset[int] | None = None) -> Span:
        return cls(parse_clock(start), parse_clock(end), days)


@dataclass(frozen=True)
class Curfew:
    spans: tuple[Span, ...] = ()
    quiet_weekdays: frozenset[int] = field(default_factory=frozenset)  # whole days, 0 = Monday
    holidays: frozenset[tuple[int, int]] = field(default_factory=frozenset)  # (month, day)

    def intervals(self, day: dt.date, zone: ZoneInfo) -> list[tuple[int, int]]:
        """The quiet intervals starting on local `day`, as epoch ms."""
        midnight = dt.datetime.combine(day, dt.time(), zone)
        out: list[tuple[int, int]] = []
        if day.weekday() in self.quiet_weekdays or (day.month, day.day) in self.holidays:
            out.append((_ms(midnight), _ms(_local(day + dt.timedelta(days=1), 0, zone))))
        for s in self.spans:
            if s.days is not None and day.weekday() not in s.days:
                continue
            end_day = day if s.end_s > s.start_s else day + dt.timedelta(days=1)
            out.append((_ms(_local(day, s.start_s, zone)), _ms(_local(end_day, s.end_s, zone))))
        return out


def _local(day: dt.date, seconds: int, zone: ZoneInfo) -> dt.datetime:
    base = dt.datetime.combine(day, dt.time(), zone)
    # Wall-clock arithmetic on the local date, then resolved in the zone (DST gaps roll forward).
    naive = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds)
    return naive.replace(tzinfo=base.tzinfo)


def _ms(when: dt.datetime) -> int:
    return int(when.timestamp() * 1000)


DEFAULT_CURFEW = Curfew(spans=(Span.of("21:00", "08:00"),))
_FR_HOLIDAYS = frozenset({(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)})
COUNTRY_CURFEWS: Mapping[str, Curfew] = {
    "US": Curfew(spans=(Span.of("21:00", "08:00"),)),
    "CA": Curfew(spans=(Span.of("21:00", "08:00"),)),
    "FR": Curfew(spans=(Span.of("20:00", "08:00"),), quiet_weekdays=frozenset({6}),
                 holidays=_FR_HOLIDAYS),
}


def curfew_for(country: str | None, overrides: Mapping[str, Curfew] | None = None,
               default: Curfew | None = None) -> Curfew:
    """The project's own rule for the country, else the country default, else the default."""
    key = (country or "").upper()
    if overrides and key in overrides:
        return overrides[key]
    if key in COUNTRY_CURFEWS:
        return COUNTRY_CURFEWS[key]
    return default if default is not None else DEFAULT_CURFEW


@lru_cache(maxsize=4096)
def _number_facts(identity: str) -> tuple[str | None, str | None]:
    """(region, first time zone) of a number. A campaign reaches a new number with nearly every
    message, so most calls miss this cache: a number whose calling code belongs to one country
    of one time zone (+46, +49, +33 …) is answered from the code (~1 µs) instead of parsing it,
    finding its region and typing it for its zones (35–70 µs per number). The answer is the one
    the full lookup gives for every valid number (a test holds the two together); for an invalid
    one in such a country it is that country and zone where the full lookup knows neither."""
    known = _single_zone_fact(identity)
    if known is not None:
        return known
    try:
        number = phonenumbers.parse(identity, None)
    except phonenumbers.NumberParseException:
        return None, None
    country = phonenumbers.region_code_for_number(number)
    zones = [z for z in pn_timezone.time_zones_for_number(number) if z != "Etc/Unknown"]
    return country, (zones[0] if zones else None)


def _single_zone_fact(identity: str) -> tuple[str, str] | None:
    region = sole_region(identity)
    zone = _sole_zones().get(region) if region is not None else None
    return (region, zone) if region is not None and zone is not None else None


@cache
def _sole_zones() -> dict[str, str]:
    """Region -> zone for the regions that have a calling code of their own whose time zone data
    names one zone at every prefix, the country-level entry included."""
    zones: dict[int, set[str]] = {}
    for prefix, names in TIMEZONE_DATA.items():
        code = calling_code(prefix)
        if code is not None:
            zones.setdefault(code, set()).update(names)
    out: dict[str, str] = {}
    for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items():
        found = zones.get(code, set())
        if len(regions) == 1 and len(found) == 1 and "Etc/Unknown" not in found and str(code) in TIMEZONE_DATA:
            out[regions[0]] = next(iter(found))
    return out


def country_of(identity: str) -> str | None:
    """ISO 3166 alpha-2 region of an E.164 number, or None."""
    return _number_facts(identity)[0]


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone_for(identity: str, contact_zone: str | None = None) -> ZoneInfo:
    """The recipient's time zone: the contact's, else the number's first zone, else UTC."""
    if contact_zone:
        zone = _zone(contact_zone)
        if zone is not None:
            return zone
    name = _number_facts(identity)[1]
    return (_zone(name) if name else None) or UTC


def next_allowed(now_ms: int, zone: ZoneInfo, curfew: Curfew) -> int | None:
    """None if `now_ms` is outside every quiet interval, else when the quiet time ends (quiet
    intervals that touch or overlap, e.g. Saturday night into a quiet Sunday, are joined).

    Every boundary is a whole second (spans are given to the second, zone offsets are whole
    seconds), so the answer is the same for every moment of a second: it is worked out once per
    second, zone and curfew (~12 µs of date arithmetic, which a campaign paid per message)."""
    return _from_second(now_ms // 1000, zone, curfew)


@lru_cache(maxsize=4096)
def _from_second(second: int, zone: ZoneInfo, curfew: Curfew) -> int | None:
    return _walk(second * 1000, zone, curfew)


def _walk(t: int, zone: ZoneInfo, curfew: Curfew) -> int | None:
    moved = False
    for _ in range(32):  # a week of chained days at most, with room to spare
        day = dt.datetime.fromtimestamp(t / 1000, zone).date()
        covering = [end for d in (-1, 0) for start, end in
                    curfew.intervals(day + dt.timedelta(days=d), zone) if start <= t < end]
        if not covering:
            return t if moved else None
        t = max(covering)
        moved = True
    return t
