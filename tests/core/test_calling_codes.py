"""Calling codes and sole countries read off a number's leading digits, against phonenumbers'
own parse of the same numbers."""

from __future__ import annotations

import phonenumbers
import pytest

from tidings.core.calling_codes import calling_code, country_of, sole_region
from tidings.testing.numbers import example_numbers


@pytest.mark.parametrize(("digits", "code"), [
    ("46701234567", 46), ("12125550100", 1), ("79161234567", 7), ("2348031234567", 234),
    ("80012345678", 800), ("0046701234567", None), ("", None), ("4", None), ("999123", None),
    ("٤٦701234567", None),  # digits, but not ASCII ones
])
def test_calling_code(digits: str, code: int | None) -> None:
    assert calling_code(digits) == code


def test_every_example_number_gets_the_code_and_country_a_full_parse_gives() -> None:
    sole = 0
    numbers = example_numbers()
    assert len(numbers) > 1000
    for number in numbers:
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        assert calling_code(e164[1:]) == number.country_code, e164
        region = sole_region(e164)
        if region is not None:
            sole += 1
            assert region == phonenumbers.region_code_for_number(number), e164
    assert sole > 800


def test_no_sole_country_for_shared_or_non_geographic_codes_or_non_numbers() -> None:
    assert sole_region("+46701234567") == "SE"
    for number in ("+12125550100", "+74951234567", "+447700900123", "+80012345678", "46701234567",
                   "+46 70 123 45 67", "+", "", "x@example.com"):
        assert sole_region(number) is None, number


def test_country_of_agrees_with_a_full_parse_and_falls_back_to_the_codes_main_country() -> None:
    for number in example_numbers():
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        region = phonenumbers.region_code_for_number(number)
        assert country_of(e164) == (None if region == "001" else region), e164
    assert country_of("+12125550100") == "US" and country_of("+14165550100") == "CA"  # +1, parsed
    assert country_of("+1999") == "US"  # in no allocated range: the main country of +1
    assert country_of("+80012345678") is None  # non-geographic
    for other in ("46701234567", "", "+", "x@example.com", "+0123"):
        assert country_of(other) is None, other
