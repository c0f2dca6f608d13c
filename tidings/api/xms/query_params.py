"""Parsing the query parameters XMS list and report endpoints share: pages, dates, comma lists.

Each parser takes the raw string (or None when absent) and either returns the value or raises a
`RequestError` naming the parameter, which the API renders as an XMS 400. Integers are ASCII
digits and bounded (a page at most `MAX_PAGE`, a code a 32-bit one), so none overflows the
database's integers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tidings.core.errors import RequestError
from tidings.core.statuses import Status

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "bad_parameter",
    "parse_codes",
    "parse_csv",
    "parse_date_ms",
    "parse_integer",
    "parse_page",
    "parse_page_size",
    "parse_statuses",
]

DEFAULT_PAGE_SIZE = 30
MAX_PAGE_SIZE = 100
MAX_PAGE = 10**9  # page × page_size stays far inside the 64-bit OFFSET of SQLite and PostgreSQL
MAX_CODE = 2**31 - 1  # delivery codes are 32-bit integers in the database

INVALID_FORMAT = "syntax_invalid_parameter_format"
CONSTRAINT = "syntax_constraint_violation"

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_STATUS_BY_NAME = {s.value.lower(): s.value for s in Status}


def bad_parameter(name: str, text: str, code: str = INVALID_FORMAT) -> RequestError:
    return RequestError(code, f"{name}: {text}", 400, {name: text})


_MAX_DIGITS = 19  # enough for any bound here; longer ones are refused before int() reads them


def _integer(name: str, raw: str) -> int:
    """ASCII digits with an optional leading `-` (not `²`, `1e3` or `0x10`), at most 19 significant."""
    text = raw.strip()
    digits = text.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        raise bad_parameter(name, f"not an integer: {raw!r}")
    significant = digits.lstrip("0") or "0"
    if len(significant) > _MAX_DIGITS:
        raise bad_parameter(name, f"out of range: {raw!r}", CONSTRAINT)
    return -int(significant) if text.startswith("-") else int(significant)


def parse_integer(name: str, raw: str, low: int = 0, high: int = MAX_CODE) -> int:
    """An integer query parameter between `low` and `high`."""
    value = _integer(name, raw)
    if not low <= value <= high:
        raise bad_parameter(name, f"must be between {low} and {high}", CONSTRAINT)
    return value


def parse_page(raw: str | None) -> int:
    if raw is None or raw == "":
        return 0
    page = _integer("page", raw)
    if page < 0:
        raise bad_parameter("page", "must be 0 or more", CONSTRAINT)
    if page > MAX_PAGE:
        raise bad_parameter("page", f"must be at most {MAX_PAGE}", CONSTRAINT)
    return page


def parse_page_size(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    size = _integer("page_size", raw)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise bad_parameter("page_size", f"must be between 1 and {MAX_PAGE_SIZE}", CONSTRAINT)
    return size


def parse_date_ms(name: str, raw: str | None) -> int | None:
    """An ISO-8601 date or date-time as epoch milliseconds; without a zone it is UTC."""
    if raw is None or raw == "":
        return None
    text = raw.strip()
    date, sep, rest = text.partition("T")
    if sep and " " in rest:
        # An unencoded "+01:00" offset in a query string arrives as " 01:00".
        text = f"{date}T{rest.replace(' ', '+', 1)}"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise bad_parameter(name, f"not an ISO-8601 date-time: {raw!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return (moment - _EPOCH) // dt.timedelta(milliseconds=1)


def parse_csv(raw: str | None) -> list[str] | None:
    """`a,b,c` as a list without empty items; None when the parameter is absent."""
    if raw is None:
        return None
    return [item.strip() for item in raw.split(",") if item.strip()]


def parse_statuses(raw: str | None) -> list[str] | None:
    """Delivery statuses in any letter case (`Delivered`, `DELIVERED`) as XMS writes them."""
    items = parse_csv(raw)
    if not items:
        return None
    out = []
    for item in items:
        status = _STATUS_BY_NAME.get(item.lower())
        if status is None:
            raise bad_parameter("status", f"unknown delivery status {item!r}")
        out.append(status)
    return out


def parse_codes(raw: str | None) -> list[int] | None:
    items = parse_csv(raw)
    if not items:
        return None
    return [parse_integer("code", item) for item in items]


DEFAULT_WINDOW_MS = 24 * 3600 * 1000  # lists without start_date cover the day before end_date


@dataclass(frozen=True)
class ListWindow:
    """The paging and date window shared by XMS list endpoints."""

    page: int
    page_size: int
    start_ms: int
    end_ms: int | None

    @property
    def offset(self) -> int:
        return self.page * self.page_size

    def body(self, total: int, key: str, items: list[Any]) -> dict[str, Any]:
        """An XMS list page; its page_size is the number of entries on this page."""
        return {"count": total, "page": self.page, "page_size": len(items), key: items}


def parse_list_window(params: Mapping[str, str], now_ms: int) -> ListWindow:
    """page, page_size, start_date and end_date; no start_date means DEFAULT_WINDOW_MS before
    end_date (or now)."""
    page = parse_page(params.get("page"))
    page_size = parse_page_size(params.get("page_size"))
    start_ms = parse_date_ms("start_date", params.get("start_date"))
    end_ms = parse_date_ms("end_date", params.get("end_date"))
    if start_ms is None:
        start_ms = (end_ms if end_ms is not None else now_ms) - DEFAULT_WINDOW_MS
    return ListWindow(page, page_size, start_ms, end_ms)
