"""Quiet hours: local time zones, wrapping windows, whole quiet days, joined intervals."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tidings.policy.quiet_hours import (
    COUNTRY_CURFEWS,
    DEFAULT_CURFEW,
    Curfew,
    Span,
    country_of,
    curfew_for,
    next_allowed,
    parse_clock,
    zone_for,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def at(zone: ZoneInfo, *parts: int) -> int:
    return int(dt.datetime(*parts, tzinfo=zone).timestamp() * 1000)  # type: ignore[misc]


def test_parse_clock() -> None:
    assert parse_clock("21:00") == 21 * 3600
    assert parse_clock("08:30:15") == 8 * 3600 + 30 * 60 + 15
    assert parse_clock("24:00") == 24 * 3600
    for bad in ("25:00", "8h", "24:01", "", "12:60"):
        with pytest.raises(ValueError):
            parse_clock(bad)


def test_zone_from_contact_then_number_then_utc() -> None:
    assert zone_for("+33612345678").key == "Europe/Paris"
    assert zone_for("+33612345678", "Asia/Tokyo").key == "Asia/Tokyo"
    assert zone_for("+33612345678", "Not/AZone").key == "Europe/Paris"
    # +1 without a more precise prefix: the first zone phonenumbers lists.
    assert zone_for("+12125550100").key == "America/New_York"
    assert zone_for("not a number").key == "UTC"
    assert country_of("+33612345678") == "FR"


def test_us_tcpa_window_defers_to_eight_local() -> None:
    us = curfew_for("US")
    assert next_allowed(at(NEW_YORK, 2026, 3, 4, 12, 0), NEW_YORK, us) is None
    assert next_allowed(at(NEW_YORK, 2026, 3, 4, 21, 30), NEW_YORK, us) == at(NEW_YORK, 2026, 3, 5, 8, 0)
    assert next_allowed(at(NEW_YORK, 2026, 3, 5, 7, 59), NEW_YORK, us) == at(NEW_YORK, 2026, 3, 5, 8, 0)
    assert next_allowed(at(NEW_YORK, 2026, 3, 5, 8, 0), NEW_YORK, us) is None


def test_france_sunday_joins_saturday_night_and_sunday_night() -> None:
    fr = COUNTRY_CURFEWS["FR"]
    # Saturday 2026-03-07 22:00 → quiet through Sunday and Sunday night → Monday 08:00.
    assert next_allowed(at(PARIS, 2026, 3, 7, 22, 0), PARIS, fr) == at(PARIS, 2026, 3, 9, 8, 0)
    assert next_allowed(at(PARIS, 2026, 3, 8, 12, 0), PARIS, fr) == at(PARIS, 2026, 3, 9, 8, 0)
    assert next_allowed(at(PARIS, 2026, 3, 9, 12, 0), PARIS, fr) is None
    # Bastille Day (a Tuesday in 2026) is quiet all day.
    assert next_allowed(at(PARIS, 2026, 7, 14, 12, 0), PARIS, fr) == at(PARIS, 2026, 7, 15, 8, 0)


def test_project_overrides_and_default() -> None:
    own = Curfew(spans=(Span.of("12:00", "13:00", frozenset({2})),))
    assert curfew_for("FR", {"FR": own}) is own
    assert curfew_for("SE") is DEFAULT_CURFEW
    assert curfew_for(None, default=own) is own
    wednesday_noon = at(PARIS, 2026, 3, 4, 12, 30)
    assert next_allowed(wednesday_noon, PARIS, own) == at(PARIS, 2026, 3, 4, 13, 0)
    assert next_allowed(wednesday_noon + 7 * 86_400_000 - 86_400_000, PARIS, own) is None  # Tuesday


def test_dst_change_night_ends_at_local_eight() -> None:
    # Europe switches to summer time on 2026-03-29 at 02:00: the night is an hour shorter.
    start = at(PARIS, 2026, 3, 28, 23, 0)
    assert next_allowed(start, PARIS, DEFAULT_CURFEW) == at(PARIS, 2026, 3, 29, 8, 0)
    assert next_allowed(start, PARIS, DEFAULT_CURFEW) - start == 8 * 3_600_000  # type: ignore[operator]


def test_number_facts_read_off_the_calling_code_agree_with_the_full_lookup() -> None:
    """A number of a one-country, one-zone calling code is answered without parsing it: for every
    valid example number of every type of every such country, the answer the full lookup gives."""
    import phonenumbers
    from phonenumbers import timezone as pn_timezone

    from tidings.policy.quiet_hours import _single_zone_fact
    from tidings.testing.numbers import example_numbers

    def full(e164: str) -> tuple[str | None, str | None]:
        number = phonenumbers.parse(e164, None)
        zones = [z for z in pn_timezone.time_zones_for_number(number) if z != "Etc/Unknown"]
        return phonenumbers.region_code_for_number(number), (zones[0] if zones else None)

    shortcut = 0
    for example in example_numbers():
        e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
        fact = _single_zone_fact(e164)
        if fact is not None:
            shortcut += 1
            assert fact == full(e164), e164
    assert shortcut > 500  # most countries take the shortcut …
    for several in ("+12125550100", "+74951234567", "+61212345678", "+447700900123"):
        assert _single_zone_fact(several) is None  # … not those of several zones or regions
    assert country_of("+4915112345678") == "DE" and zone_for("+4915112345678").key == "Europe/Berlin"


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"])
def test_next_allowed_is_worked_out_once_a_second_with_the_same_answers(zone: str) -> None:
    """Around every boundary (quiet windows, a to-the-second span, DST changes), any moment of a
    second gets what walking the intervals from that very moment gives."""
    from tidings.policy.quiet_hours import _walk

    tz = ZoneInfo(zone)
    curfews = [DEFAULT_CURFEW, COUNTRY_CURFEWS["FR"], Curfew(spans=(Span.of("12:00:30", "12:00:31"),))]
    moments = []
    for day in (dt.date(2026, 3, 7), dt.date(2026, 3, 8), dt.date(2026, 3, 29), dt.date(2026, 4, 5),
                dt.date(2026, 10, 4), dt.date(2026, 10, 25), dt.date(2026, 11, 1), dt.date(2026, 12, 25)):
        for hour, minute, second in ((20, 0, 0), (21, 0, 0), (8, 0, 0), (12, 0, 30), (12, 0, 31), (0, 0, 0),
                                     (2, 0, 0), (3, 0, 0)):
            base = int(dt.datetime.combine(day, dt.time(hour, minute, second), tz).timestamp() * 1000)
            moments += [base + offset for offset in (-1001, -1000, -999, -1, 0, 1, 499, 999, 1000)]
    quiet = 0
    for curfew in curfews:
        for t in moments:
            expected = _walk(t, tz, curfew)
            assert next_allowed(t, tz, curfew) == expected, (curfew, t)
            quiet += expected is not None
    assert quiet > 100  # the moments do fall in quiet windows as well as outside them
