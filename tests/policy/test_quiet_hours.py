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
