"""Frequency caps, collapse keys and the settings that configure them (pure parts)."""

from __future__ import annotations

import pytest

from tidings.policy.caps import DAY_MS, DEFAULT_CAPS, CapRule, collapse_key, exceeded
from tidings.policy.settings import PolicySettings, parse_settings, settings_json

NOW = 1_800_000_000_000


def test_default_engagement_cap_day_then_week() -> None:
    rule = DEFAULT_CAPS["engagement"]
    assert exceeded(rule, [], NOW) is None
    assert exceeded(rule, [NOW - 1000], NOW) == "day"
    assert exceeded(rule, [NOW - DAY_MS - 1], NOW) is None  # a rolling day
    three_days = [NOW - DAY_MS * k - 1 for k in (1, 2, 3)]
    assert exceeded(rule, three_days, NOW) == "week"
    assert exceeded(rule, [NOW - DAY_MS * 7 - 1] * 5, NOW) is None
    assert exceeded(None, [NOW] * 10, NOW) is None
    assert exceeded(CapRule(per_day=0), [], NOW) == "day"


def test_collapse_key_hash_and_explicit() -> None:
    a = collapse_key(None, "+46701", "Your parcel is out")
    assert a == collapse_key(None, "+46701", "Your parcel is out")
    assert a != collapse_key(None, "+46702", "Your parcel is out")
    assert a != collapse_key(None, "+46701", "Your parcel is late")
    k = collapse_key("order-1", "+46701", "x")
    assert k == collapse_key("order-1", "+46702", "y") and k != a
    assert len(k) <= 64 and len(a) <= 64


def test_settings_round_trip_and_defaults() -> None:
    s = parse_settings(None)
    assert s == PolicySettings()
    shown = settings_json(s)
    assert shown["caps"]["engagement"] == {"per_day": 1, "per_week": 3}
    assert shown["caps"]["information"] is None and "security" not in shown["caps"]
    custom = parse_settings({
        "caps": {"engagement": {"per_day": 2, "per_week": None}, "satisfaction": {"per_week": 1}},
        "collapse_window_seconds": 60,
        "quiet_hours": {"enabled": True, "purposes": ["engagement", "information"],
                        "default": {"spans": [{"start": "22:00", "end": "07:30"}]},
                        "countries": {"fr": {"spans": [{"start": "20:00", "end": "08:00", "days": [0, 1]}],
                                             "quiet_weekdays": [6], "holidays": ["12-25"]}}},
    })
    assert custom.caps["engagement"] == CapRule(2, None)
    assert parse_settings(settings_json(custom)) == custom


@pytest.mark.parametrize("body, where", [
    ({"caps": {"security": {"per_day": 1}}}, "caps.security"),
    ({"quiet_hours": {"purposes": ["security"]}}, "quiet_hours.purposes[0]"),
    ({"caps": {"engagement": {"per_day": -1}}}, "caps.engagement.per_day"),
    ({"collapse_window_seconds": "x"}, "collapse_window_seconds"),
    ({"quiet_hours": {"default": {"spans": [{"start": "25:00", "end": "08:00"}]}}}, "quiet_hours.default.spans[0]"),
    ({"quiet_hours": {"countries": {"FRA": {}}}}, "quiet_hours.countries.FRA"),
    ({"other": 1}, "other"),
])
def test_settings_refuse_bad_input(body: object, where: str) -> None:
    with pytest.raises(ValueError, match=rf"^{where.replace('[', '.').replace(']', '.')}"):
        parse_settings(body)


def test_content_safety_and_smpp_settings() -> None:
    s = parse_settings({"content_safety": {"tenant_domains": ["Acme.example.", "acme.example", "shop.acme.io"],
                                           "phi_allowed_channels": ["sms", "RCS"]},
                        "smpp": {"purposes": {"plan1": "engagement"}}})
    assert s.tenant_domains == ("acme.example", "shop.acme.io")
    assert s.phi_allowed_channels == frozenset({"SMS", "RCS"})
    assert s.smpp_purpose("plan1") == "engagement" and s.smpp_purpose("other") == "information"
    assert parse_settings(settings_json(s)) == s
    default = settings_json(PolicySettings())
    assert default["content_safety"] == {"tenant_domains": [], "phi_allowed_channels": ["RCS"]}
    assert default["smpp"] == {"purposes": {}}
    for bad, path in [({"content_safety": {"tenant_domains": ["not a domain"]}}, "content_safety.tenant_domains[0]"),
                      ({"content_safety": {"tenant_domains": "acme.example"}}, "content_safety.tenant_domains"),
                      ({"content_safety": {"phi_allowed_channels": [1]}}, "content_safety.phi_allowed_channels"),
                      ({"content_safety": {"other": 1}}, "content_safety"),
                      ({"smpp": {"purposes": {"plan1": "spam"}}}, "smpp.purposes.plan1")]:
        with pytest.raises(ValueError, match=path.replace("[", r"\[").replace("]", r"\]")):
            parse_settings(bad)
