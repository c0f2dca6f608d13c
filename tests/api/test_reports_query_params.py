"""Parsing the shared XMS list parameters: pages, ISO-8601 dates, statuses and codes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tidings.api.xms import query_params as qp
from tidings.core.errors import RequestError

MAY_1_NOON_MS = 1_714_564_800_000  # 2024-05-01T12:00:00Z


@pytest.mark.parametrize(("raw", "expected"), [
    ("2024-05-01T12:00:00Z", MAY_1_NOON_MS),
    ("2024-05-01T12:00:00.123Z", MAY_1_NOON_MS + 123),
    ("2024-05-01T12:00:00", MAY_1_NOON_MS),  # no zone: UTC
    ("2024-05-01T14:00:00+02:00", MAY_1_NOON_MS),
    ("2024-05-01T14:00:00 02:00", MAY_1_NOON_MS),  # "+" decoded as a space
    ("2024-05-01T10:00:00-02:00", MAY_1_NOON_MS),
    ("2024-05-01", MAY_1_NOON_MS - 12 * 3600 * 1000),
    (None, None),
    ("", None),
])
def test_dates(raw: str | None, expected: int | None) -> None:
    assert qp.parse_date_ms("start_date", raw) == expected


@pytest.mark.parametrize("raw", ["yesterday", "2024-02-30", "2024-05-01T12:00:00 junk", "12"])
def test_bad_dates_name_the_parameter(raw: str) -> None:
    with pytest.raises(RequestError) as caught:
        qp.parse_date_ms("end_date", raw)
    assert (caught.value.http_status, caught.value.code) == (400, "syntax_invalid_parameter_format")
    assert caught.value.fields.keys() == {"end_date"}


def test_pages() -> None:
    assert (qp.parse_page(None), qp.parse_page("0"), qp.parse_page(" 7 ")) == (0, 0, 7)
    assert (qp.parse_page_size(None), qp.parse_page_size("1"), qp.parse_page_size("100")) == (30, 1, 100)
    for bad in ("-1", "x", "1e3"):
        with pytest.raises(RequestError):
            qp.parse_page(bad)
    for bad in ("0", "101", "-5", "ten"):
        with pytest.raises(RequestError) as caught:
            qp.parse_page_size(bad)
        assert caught.value.text.startswith("page_size:")


def test_statuses_in_any_case_and_codes() -> None:
    assert qp.parse_statuses("DELIVERED,failed, Queued") == ["Delivered", "Failed", "Queued"]
    assert qp.parse_statuses(None) is None
    assert qp.parse_statuses(",") is None
    with pytest.raises(RequestError):
        qp.parse_statuses("Delivered,Sent")
    assert qp.parse_codes("0, 401,407") == [0, 401, 407]
    assert qp.parse_codes("") is None
    with pytest.raises(RequestError):
        qp.parse_codes("0,x")


@pytest.mark.parametrize(("parse", "raw", "named"), [
    (qp.parse_page, "99999999999999999999", "page"),
    (qp.parse_page, str(qp.MAX_PAGE + 1), "page"),
    (qp.parse_page, "²", "page"),
    (qp.parse_page, "١٢", "page"),  # Arabic-Indic digits are digits to Python, not to XMS
    (qp.parse_page_size, "-99999999999999999999", "page_size"),
    (qp.parse_codes, "0,99999999999999999999", "code"),
    (qp.parse_codes, str(qp.MAX_CODE + 1), "code"),
    (qp.parse_codes, "-1", "code"),
])
def test_integers_are_ascii_and_bounded(parse: Callable[[str], object], raw: str, named: str) -> None:
    """Nothing a query can hold reaches the database as an integer it cannot store (an
    OverflowError there was a 500)."""
    with pytest.raises(RequestError) as caught:
        parse(raw)
    assert caught.value.http_status == 400
    assert caught.value.fields.keys() == {named}
    assert (qp.parse_page(str(qp.MAX_PAGE)), qp.parse_codes(f"0,{qp.MAX_CODE}")) == (qp.MAX_PAGE, [0, qp.MAX_CODE])
    assert qp.parse_page("0" * 5000 + "7") == 7  # leading zeros are no overflow
