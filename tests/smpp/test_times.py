"""SMPP times: the relative form we write reads back to the same millisecond, rounded up to whole
seconds and never below one; absolute and relative forms are read; anything else is refused."""

from __future__ import annotations

import pytest

from tidings.smpp.times import InvalidSmppTime, parse_smpp_time, relative_time, validity_period

NOW = 1_767_268_800_000  # 2026-01-01 12:00:00 UTC
DAY_S = 86_400


@pytest.mark.parametrize(("seconds", "text"), [
    (1, "000000000001000R"),
    (59, "000000000059000R"),
    (60, "000000000100000R"),
    (90 * 60, "000000013000000R"),
    (DAY_S - 1, "000000235959000R"),
    (DAY_S, "000001000000000R"),
    (3 * DAY_S + 7, "000003000007000R"),     # XMS's default expiry: days only
    (99 * DAY_S + 1, "000099000001000R"),     # DD holds up to 99 days
    (100 * DAY_S, "000310000000000R"),        # then 30-day months
    (400 * DAY_S, "010035000000000R"),        # a 365-day year and 35 days
    (365 * DAY_S + 200 * DAY_S, "010620000000000R"),
])
def test_relative_time_is_written_in_its_fields(seconds: int, text: str) -> None:
    assert relative_time(seconds) == text


@pytest.mark.parametrize("seconds", [
    1, 2, 59, 61, 3599, 3600, 3661, DAY_S - 1, DAY_S + 1, 3 * DAY_S, 99 * DAY_S + 86_399, 100 * DAY_S,
    129 * DAY_S + 12_345, 130 * DAY_S, 364 * DAY_S, 365 * DAY_S, 464 * DAY_S + 1, 465 * DAY_S,
    7 * 365 * DAY_S + 250 * DAY_S + 3723, 99 * 365 * DAY_S + 364 * DAY_S + 86_399,
])
def test_relative_time_reads_back_to_the_same_millisecond(seconds: int) -> None:
    text = relative_time(seconds)
    fields = [int(text[i:i + 2]) for i in range(0, 12, 2)]
    assert all(0 <= f <= 99 for f in fields) and fields[3] < 24 and fields[4] < 60 and fields[5] < 60
    assert text.endswith("000R") and len(text) == 16
    assert parse_smpp_time(text, NOW) == NOW + seconds * 1000


def test_relative_time_has_a_floor_of_one_second_and_a_ceiling() -> None:
    assert relative_time(0) == relative_time(-5) == "000000000001000R"
    longest = relative_time(10 ** 12)
    assert longest == "991204235959000R"
    assert parse_smpp_time(longest, 0) == (((99 * 365 + 364) * 24 + 23) * 60 + 59) * 60_000 + 59_000


@pytest.mark.parametrize(("left_ms", "seconds"), [
    (1, 1), (999, 1), (1000, 1), (1001, 2), (1999, 2), (2000, 2), (7_200_000, 7200), (7_200_001, 7201),
])
def test_validity_period_rounds_the_time_left_up_to_whole_seconds(left_ms: int, seconds: int) -> None:
    text = validity_period(NOW + left_ms, NOW)
    assert text == relative_time(seconds)
    assert parse_smpp_time(text, NOW) == NOW + seconds * 1000


@pytest.mark.parametrize("left_ms", [0, -1, -999, -60_000])
def test_validity_period_is_at_least_one_second(left_ms: int) -> None:
    assert validity_period(NOW + left_ms, NOW) == "000000000001000R"


def test_no_expiry_is_no_validity_period() -> None:
    assert validity_period(None, NOW) == ""


def test_absolute_times_are_read_with_their_offset() -> None:
    assert parse_smpp_time("", NOW) is None
    assert parse_smpp_time("260101120000000+", NOW) == NOW
    assert parse_smpp_time("260101140000008+", NOW) == NOW  # 14:00 at UTC+2
    assert parse_smpp_time("260101100000008-", NOW) == NOW  # 10:00 at UTC-2
    assert parse_smpp_time("260101120000500+", NOW) == NOW + 500  # tenths of a second


@pytest.mark.parametrize("value", ["tomorrow", "26010112000000+", "261301120000000+", "260230120000000+",
                                   "000000013000000X", "0000000130000000R"])
def test_unreadable_times_are_refused(value: str) -> None:
    with pytest.raises(InvalidSmppTime):
        parse_smpp_time(value, NOW)
