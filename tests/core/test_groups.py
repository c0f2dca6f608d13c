"""Group ids in `to`, and an inbound message's words against a group's auto_update keywords."""

from __future__ import annotations

import pytest

from tidings.core.groups import AutoUpdate, Keywords, is_group_id, keyword_action, member_number
from tidings.core.ids import ulid

AUTO = AutoUpdate("+46700001001", Keywords("JOIN"), Keywords("LEAVE"))
SHARED = AutoUpdate("12345", Keywords("Tidings", "join"), Keywords("Tidings", "stop"))


def test_group_ids_are_ulids_and_never_numbers() -> None:
    assert is_group_id(ulid())
    assert is_group_id(ulid().lower())
    assert is_group_id("01FC66621VHDBN119Z8PMV1QPQ")
    for not_one in ("+46700000001", "46700000001", "0" * 15, "01FC66621VHDBN119Z8PMV1QP", "01FC66621VHDBN119Z8PMV1QPU",
                    "01FC66621VHDBN119Z8PMV1QPQ0", "", None, 42, ["01FC66621VHDBN119Z8PMV1QPQ"]):
        assert not is_group_id(not_one), not_one


@pytest.mark.parametrize(("body", "expected"), [
    ("JOIN", (True, False)),
    ("join", (True, False)),
    ("  Join!  ", (True, False)),
    ("JOIN please, I like pets", (True, False)),
    ("LEAVE", (False, True)),
    ("leave.", (False, True)),
    ("JOINED", (False, False)),
    ("please JOIN", (False, False)),
    ("", (False, False)),
    ("   ", (False, False)),
])
def test_first_word_decides(body: str, expected: tuple[bool, bool]) -> None:
    assert keyword_action(body, AUTO) == expected


@pytest.mark.parametrize(("body", "expected"), [
    ("Tidings join", (True, False)),
    ("TIDINGS JOIN now", (True, False)),
    ("tidings stop", (False, True)),
    ("Tidings", (False, False)),
    ("join", (False, False)),
    ("Other join", (False, False)),
])
def test_second_word_when_set(body: str, expected: tuple[bool, bool]) -> None:
    assert keyword_action(body, SHARED) == expected


def test_keywords_left_out_match_nothing() -> None:
    only_add = AutoUpdate("+46700001001", add=Keywords("JOIN"))
    assert keyword_action("LEAVE", only_add) == (False, False)
    assert keyword_action("JOIN", AutoUpdate("+46700001001")) == (False, False)
    same = AutoUpdate("+46700001001", Keywords("PETS"), Keywords("PETS"))
    assert keyword_action("pets", same) == (True, True)


def test_member_number_is_e164_or_nothing() -> None:
    assert member_number("+46701310001") == "+46701310001"
    assert member_number("46701310001") is None  # not said to be international
    assert member_number("+4670") is None
    assert member_number("Shop") is None
