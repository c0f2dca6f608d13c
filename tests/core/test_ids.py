"""ULIDs: 26 Crockford base32 characters, time first, so they sort by creation time."""

from __future__ import annotations

import random
import re
import time

from tidings.core.ids import crockford_128, ulid

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def one_character_at_a_time(value: int) -> str:
    return "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in range(25, -1, -1))


def test_crockford_encoding_of_128_bit_numbers() -> None:
    rng = random.Random(7)
    for value in [0, 1, 31, 32, 2**128 - 1, *(rng.getrandbits(128) for _ in range(2000))]:
        assert crockford_128(value) == one_character_at_a_time(value)
    assert crockford_128(0) == "0" * 26 and crockford_128(2**128 - 1) == "7" + "Z" * 25


def test_ulids_are_unique_and_ordered_by_time() -> None:
    first = ulid()
    time.sleep(0.002)
    later = [ulid() for _ in range(1000)]
    assert all(re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", u) for u in [first, *later])
    assert len(set(later)) == 1000
    assert all(first < u for u in later)
    assert abs(int(time.time() * 1000) - _decode_time(later[-1])) < 1000  # the first 10 characters


def _decode_time(value: str) -> int:
    number = 0
    for char in value[:10]:
        number = number * 32 + CROCKFORD.index(char)
    return number
