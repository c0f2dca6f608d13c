"""SMPP 3.4 time fields (§7.1.1): schedule_delivery_time and validity_period.

Owns reading both forms — absolute `YYMMDDhhmmsstnn±` (local time with its offset from UTC in
quarter hours) and relative `YYMMDDhhmmss000R` — and writing the relative form. A relative
period counts years as 365 days and months as 30 (what the spec leaves to the SMSC; the common
reading), so `relative_time` writes only what `parse_smpp_time` reads back to the same
millisecond. The customer SMPP server (`tidings.gateway`) and the sandbox SMSC read with it;
our ESME connector writes each submit_sm's validity_period with it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

__all__ = ["InvalidSmppTime", "parse_smpp_time", "relative_time", "validity_period"]

_SMPP_TIME = re.compile(r"^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d)(\d{2})([+\-R])$")
_QUARTER_HOUR = timedelta(minutes=15)
_DAYS_PER_YEAR = 365
_DAYS_PER_MONTH = 30
_FIELD_MAX = 99  # each field of the relative form is two digits
_MAX_RELATIVE_S = (((_FIELD_MAX * _DAYS_PER_YEAR + 364) * 24 + 23) * 60 + 59) * 60 + 59


class InvalidSmppTime(ValueError):
    """A time field that is neither an absolute nor a relative SMPP time."""


def parse_smpp_time(value: str, now_ms: int) -> int | None:
    """Epoch ms of an SMPP time (a relative one counted from `now_ms`); None for an empty field.
    Raises `InvalidSmppTime`."""
    if not value:
        return None
    if value[-1] == "R":
        return now_ms + _relative_ms(value)
    match = _SMPP_TIME.match(value)
    if match is None:
        raise InvalidSmppTime(f"not an SMPP time: {value!r}")
    yy, mo, dd, hh, mi, ss, tenths, quarters, sign = match.groups()
    try:
        local = datetime(2000 + int(yy), int(mo), int(dd), int(hh), int(mi), int(ss), int(tenths) * 100_000)
    except ValueError:
        raise InvalidSmppTime(f"not an SMPP time: {value!r}") from None
    offset = _QUARTER_HOUR * int(quarters) * (1 if sign == "+" else -1)
    return int((local - offset).replace(tzinfo=UTC).timestamp() * 1000)


@lru_cache(maxsize=1024)
def _relative_ms(value: str) -> int:
    """A relative SMPP time's length in ms. Cached: every part of every message a batch sends
    carries one of a few values (1.5 µs each to read, measured, against 0.1 µs looked up)."""
    match = _SMPP_TIME.match(value)
    if match is None:
        raise InvalidSmppTime(f"not an SMPP time: {value!r}")
    yy, mo, dd, hh, mi, ss, _, _, _ = match.groups()
    days = int(yy) * _DAYS_PER_YEAR + int(mo) * _DAYS_PER_MONTH + int(dd)
    return (((days * 24 + int(hh)) * 60 + int(mi)) * 60 + int(ss)) * 1000


@lru_cache(maxsize=1024)
def relative_time(seconds: int) -> str:
    """`seconds` (at least 1, at most ~99 years) as a relative SMPP time `YYMMDDhhmmss000R`.

    Up to 99 days go in DD alone (the field every SMSC reads alike); longer periods take whole
    365-day years, then 30-day months. Cached: the messages of one batch share the few values of
    their whole seconds left.
    """
    seconds = min(max(1, seconds), _MAX_RELATIVE_S)
    minutes, ss = divmod(seconds, 60)
    hours, mi = divmod(minutes, 60)
    days, hh = divmod(hours, 24)
    years = months = 0
    if days > _FIELD_MAX:
        years, days = divmod(days, _DAYS_PER_YEAR)
        if days > _FIELD_MAX:
            months, days = divmod(days, _DAYS_PER_MONTH)
    return f"{years:02d}{months:02d}{days:02d}{hh:02d}{mi:02d}{ss:02d}000R"


def validity_period(expire_at_ms: int | None, now_ms: int) -> str:
    """A submit_sm's validity_period for a message that must be delivered by `expire_at_ms`: the
    time left, rounded up to whole seconds, at least one; empty (the SMSC's default) for None.

    Relative rather than absolute: an absolute time is read in the SMSC's idea of local time and
    its clock, and SMSCs that ignore the UTC offset, or run a skewed clock, would stretch or cut
    it by hours; the time left needs neither clock nor time zone.
    """
    if expire_at_ms is None:
        return ""
    return relative_time(-((now_ms - expire_at_ms) // 1000))
