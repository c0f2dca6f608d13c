"""Number Lookup's facts and request handling without HTTP: numbering plan, live facts, validation."""

from __future__ import annotations

from typing import Any

import pytest

import tidings.lookup
from tidings.lookup import InvalidLookup, LiveFacts, SandboxNumbers, lookup_number, number_facts
from tidings.lookup.service import SINCH_LINE_TYPES
from tidings.sandbox import Sandbox


@pytest.mark.parametrize(("number", "valid", "country", "line_type"), [
    ("+46701234567", True, "SE", "mobile"),
    ("4930123456", True, "DE", "landline"),
    (" +44 56 1234 5678 ", True, "GB", "voip"),
    ("+19005551234", True, "US", "premium_rate"),
    ("+18005550100", True, "US", "toll_free"),
    ("+14155552671", True, "US", "mobile"),  # fixed-line-or-mobile ranges count as mobile
    ("+999123", False, None, "unknown"),
    ("+46７01234567", False, None, "unknown"),  # non-ASCII digit
    ("+1234567890123456", False, None, "unknown"),
])
def test_number_facts(number: str, valid: bool, country: str | None, line_type: str) -> None:
    facts = number_facts(number)
    assert (facts.valid, facts.country if valid else None, facts.line_type) == (valid, country, line_type)


def test_every_line_type_maps_to_a_sinch_line_type() -> None:
    from tidings.lookup.numbering import LINE_TYPES

    assert set(SINCH_LINE_TYPES) == set(LINE_TYPES)
    assert set(SINCH_LINE_TYPES.values()) <= {"Mobile", "Landline", "VoIP", "Special", "Freephone", "Other"}


class Live:
    def __init__(self, facts: LiveFacts | None) -> None:
        self.seen: list[str] = []
        self._facts = facts

    def facts(self, e164: str) -> LiveFacts | None:
        self.seen.append(e164)
        return self._facts


def test_live_facts_win_over_the_numbering_plan() -> None:
    live = Live(LiveFacts(reachable=True, ported=True, carrier="Tele2", line_type="voip", country="NO"))
    result = lookup_number({"number": "46701234567", "features": ["LineType", "VoIPDetection"]}, live, "t")
    assert live.seen == ["+46701234567"]
    assert result["line"]["type"] == "VoIP" and result["line"]["carrier"] == "Tele2" and result["line"]["ported"]
    assert result["voIPDetection"] == {"probability": "High"} and result["countryCode"] == "NO"


def test_an_unknown_live_number_falls_back_to_the_numbering_plan() -> None:
    result = lookup_number({"number": "+46701234567", "features": ["LineType", "RND"],
                            "rndFeatureOptions": {"contactDate": "2024-01-31T10:00:00Z"}}, Live(None), "t")
    assert result["line"]["type"] == "Mobile" and result["line"]["ported"] is None
    assert result["rnd"]["error"]["status"] == 501


@pytest.mark.parametrize(("body", "field"), [
    ({}, "number"), ({"number": 46701234567}, "number"), ("+46701234567", "body"),
    ({"number": "+46701234567", "features": "LineType"}, "features"),
    ({"number": "+46701234567", "features": ["lineType"]}, "features"),
    ({"number": "+46701234567", "features": ["RND"], "rndFeatureOptions": {"contactDate": "soon"}},
     "rndFeatureOptions.contactDate"),
    ({"number": "+0000", "features": ["LineType"]}, "number"),
])
def test_invalid_requests(body: Any, field: str) -> None:
    with pytest.raises(InvalidLookup) as caught:
        lookup_number(body, None, "t")
    assert caught.value.field == field


def test_sandbox_numbers_reflect_the_handsets() -> None:
    sandbox = Sandbox(seed=1)
    numbers = SandboxNumbers(sandbox)
    fresh = numbers.facts("+46701234567")
    assert fresh == LiveFacts(reachable=True, ported=False, carrier=None, line_type="mobile", country="SE")
    handset = sandbox.handset("+46701234567")
    handset.reachable, handset.ported, handset.carrier = False, True, "Telia"
    assert numbers.facts("+46701234567") == LiveFacts(False, True, "Telia", "mobile", "SE")
    assert numbers.facts("+999123") is None and numbers.facts("nope") is None


def test_exported_names() -> None:
    assert sorted(tidings.lookup.__all__) == ["FEATURES", "InvalidLookup", "LiveFacts", "LiveNumbers", "NumberFacts",
                                              "SandboxNumbers", "lookup_number", "number_facts"]
