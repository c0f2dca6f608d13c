"""Sender ID decisions per country: kinds, registrations, reject and rewrite policies."""

from __future__ import annotations

from tidings.policy.sender_ids import RegisteredSender, SenderPolicy, decide, kind_of

US = "+12025550123"
SE = "+46701234567"
GB = "+447700900123"
IN = "+919812345678"
REJECT = SenderPolicy("reject")


def registry(*senders: RegisteredSender) -> dict[str, RegisteredSender]:
    return {s.address: s for s in senders}


def test_kinds() -> None:
    assert kind_of("+46700000000") == "long_code"
    assert kind_of("72345") == "short_code"
    assert kind_of("Tidings") == "alphanumeric"
    assert kind_of("+4670123") == "long_code"


def test_off_sends_anything() -> None:
    assert decide("Tidings", US, {}, SenderPolicy()).action == "send"


def test_alphanumeric_not_allowed_in_the_us() -> None:
    d = decide("Tidings", US, {}, REJECT)
    assert (d.action, d.reason, d.code) == ("reject", "sender_not_allowed", 491)
    assert decide("Tidings", SE, {}, REJECT).action == "send"  # no rule for Sweden


def test_us_long_code_needs_a_registered_10dlc_campaign() -> None:
    pending = registry(RegisteredSender("+12025550100", "long_code", {"US": "pending"}))
    d = decide("+12025550100", US, pending, REJECT)
    assert (d.action, d.reason, d.code) == ("reject", "sender_not_registered", 492)
    ok = registry(RegisteredSender("+12025550100", "long_code", {"US": "registered"}))
    assert decide("+12025550100", US, ok, REJECT).action == "send"


def test_uk_alphanumeric_and_india_dlt() -> None:
    reg = registry(RegisteredSender("Shop", "alphanumeric", {"GB": "registered"}))
    assert decide("Shop", GB, reg, REJECT).action == "send"
    assert decide("Shop", IN, reg, REJECT).reason == "sender_not_registered"
    assert decide("Other", GB, reg, REJECT).reason == "sender_not_registered"


def test_rewrite_to_the_country_default_when_that_one_complies() -> None:
    reg = registry(RegisteredSender("+12025550100", "long_code", {"US": "registered"}),
                   RegisteredSender("+12025550199", "long_code", {"US": "rejected"}))
    policy = SenderPolicy("rewrite", {"US": "+12025550100"})
    d = decide("Tidings", US, reg, policy)
    assert (d.action, d.sender, d.reason) == ("rewrite", "+12025550100", "sender_not_allowed")
    bad_default = SenderPolicy("rewrite", {"US": "+12025550199"})
    assert decide("Tidings", US, reg, bad_default).action == "reject"
    assert decide("Tidings", US, reg, SenderPolicy("rewrite")).action == "reject"  # no default


def test_no_sender_goes_out_from_the_countrys_default_originator_whatever_the_mode() -> None:
    defaults = {"SE": "+46700000099", "US": "+12025550100"}
    d = decide(None, SE, {}, SenderPolicy("off", defaults))
    assert (d.action, d.sender) == ("send", "+46700000099")
    assert decide("", SE, {}, SenderPolicy("off", defaults)).sender == "+46700000099"


def test_no_sender_and_no_default_for_the_country_is_unmatched_default_originator() -> None:
    policies = (SenderPolicy(), SenderPolicy("off", {"SE": "+46700000099"}), SenderPolicy("rewrite", {"GB": "Shop"}))
    for policy in policies:
        d = decide(None, US, {}, policy)
        assert (d.action, d.sender, d.reason, d.code) == ("reject", None, "unmatched_default_originator", 410)
    assert decide(None, "+999123", {}, SenderPolicy("off", {"SE": "+46700000099"})).code == 410  # no country


def test_a_default_originator_is_checked_like_any_sender_under_reject() -> None:
    pending = registry(RegisteredSender("+12025550100", "long_code", {"US": "pending"}))
    d = decide(None, US, pending, SenderPolicy("reject", {"US": "+12025550100"}))
    assert (d.action, d.reason, d.code) == ("reject", "sender_not_registered", 492)
    ok = registry(RegisteredSender("+12025550100", "long_code", {"US": "registered"}))
    assert decide(None, US, ok, SenderPolicy("reject", {"US": "+12025550100"})).sender == "+12025550100"
