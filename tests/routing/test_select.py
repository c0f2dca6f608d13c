"""The routing decision: price, priority tiers, health, failover and exploration; prices and
decayed statistics."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from tidings.routing.prices import Price, RouteOptions, destination_key, estimate, price_of
from tidings.routing.select import RoutingSettings, choose, rank
from tidings.routing.stats import RouteStats
from tidings.testing.numbers import example_numbers

SE = "+46701234567"
US = "+12025550123"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


def routes() -> list[RouteOptions]:
    return [
        RouteOptions.of("a", 0, priority=1, prices={"+46": 0.02, "": 0.05}),
        RouteOptions.of("b", 1, priority=1, prices={"+46": 0.03, "+1": 0.01}),
        RouteOptions.of("backup", 2, priority=5, prices={"": 0.10}),
    ]


def no_explore(**kw: float) -> RoutingSettings:
    return RoutingSettings(exploration=0.0, **kw)


def test_longest_prefix_price_and_estimate() -> None:
    r = routes()
    assert r[0].price(SE) == Price(0.02, "EUR")
    assert r[0].price(US) == Price(0.05, "EUR")
    assert r[1].price("+4912345") is None
    assert price_of(r, "b", US, 3) == Price(0.03, "EUR")
    assert estimate(r, SE, 2) == Price(0.04, "EUR")  # a, the cheapest of the best tier
    assert estimate(r, US, 1) == Price(0.01, "EUR")
    assert estimate([RouteOptions.of("x", 0)], SE, 1) is None
    with pytest.raises(ValueError):
        RouteOptions.of("x", 0, prices={"+46": -1})
    with pytest.raises(ValueError):
        RouteOptions.of("x", 0, prices={"abc": 1})


def test_destination_key_is_the_country_calling_code() -> None:
    assert destination_key(SE) == "+46"
    assert destination_key(US) == "+1"
    assert destination_key("+999123") == "+999"  # no such code: the first three digits
    # One-, two- and three-digit codes, without and with the '+', as phonenumbers assigns them.
    assert [destination_key(n) for n in ("+79161234567", "447700900123", "+2348031234567", "+8801712345678",
                                          "+80012345678", "+0012")] == ["+7", "+44", "+234", "+880", "+800", "+001"]
    # The same as a full parse gives, for numbers of every type of every country.
    for example in example_numbers():
        number = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
        assert destination_key(number) == f"+{example.country_code}", number


def test_cheapest_healthy_route_of_the_best_tier() -> None:
    stats = RouteStats(Clock())
    rng = random.Random(1)
    assert choose(routes(), {"a", "b", "backup"}, SE, stats, no_explore(), rng).route == "a"  # type: ignore[union-attr]
    assert choose(routes(), {"a", "b", "backup"}, US, stats, no_explore(), rng).route == "b"  # type: ignore[union-attr]


def test_a_collapsing_delivery_rate_moves_traffic_then_fails_over() -> None:
    clock = Clock()
    stats = RouteStats(clock, max_weight=20)
    ready = {"a", "b", "backup"}
    for _ in range(20):
        stats.record("a", "+46", True, 100)
        stats.record("b", "+46", True, 100)
    # a: 0.02, b: 0.03 — a wins until a's rate falls below about two thirds of b's.
    shifted_after = None
    for n in range(1, 30):
        stats.record("a", "+46", False)
        choice = choose(routes(), ready, SE, stats, no_explore(), random.Random(0))
        assert choice is not None
        if choice.route == "b":
            shifted_after = n
            break
    assert shifted_after is not None and shifted_after <= 10
    # b collapses too: both below the threshold are unhealthy; the backup tier takes over.
    for _ in range(30):
        stats.record("b", "+46", False)
        stats.record("a", "+46", False)
    choice = choose(routes(), ready, SE, stats, no_explore(), random.Random(0))
    assert choice is not None and (choice.route, choice.reason) == ("backup", "failover")
    # Statistics are per destination: US traffic on b is untouched.
    assert choose(routes(), ready, US, stats, no_explore(), random.Random(0)).route == "b"  # type: ignore[union-attr]


def test_a_route_found_unhealthy_needs_a_margin_to_be_healthy_again() -> None:
    """No flapping: one lucky delivery on a collapsed route does not swing the traffic back."""
    stats = RouteStats(Clock(), max_weight=20)
    settings = no_explore()
    for _ in range(11):
        stats.record("a", "+46", False)
    for _ in range(9):
        stats.record("a", "+46", True)

    def healthy(of: RouteStats) -> bool:
        [a] = [s for s in rank(routes(), {"a", "b"}, SE, of, settings) if s.options.name == "a"]
        return a.healthy

    def rate(of: RouteStats) -> float:
        return of.quality("a", "+46").delivery_rate

    assert rate(stats) < settings.min_delivery_rate and not healthy(stats)
    stats.record("a", "+46", True)  # back above min_delivery_rate, not above the margin
    assert settings.min_delivery_rate <= rate(stats) < settings.min_delivery_rate + settings.recovery_margin
    assert not healthy(stats)
    while rate(stats) < settings.min_delivery_rate + settings.recovery_margin:
        assert not healthy(stats)
        stats.record("a", "+46", True)
    assert healthy(stats)
    stats.record("a", "+46", False)  # healthy again: min_delivery_rate alone judges it
    assert settings.min_delivery_rate <= rate(stats) < settings.min_delivery_rate + settings.recovery_margin
    assert healthy(stats)
    # A route never found unhealthy is judged by min_delivery_rate alone.
    fresh = RouteStats(Clock(), max_weight=20)
    for _ in range(9):
        fresh.record("a", "+46", False)
    for _ in range(11):
        fresh.record("a", "+46", True)
    assert settings.min_delivery_rate <= rate(fresh) < settings.min_delivery_rate + settings.recovery_margin
    assert healthy(fresh)


def test_not_ready_or_disabled_routes_are_skipped() -> None:
    stats = RouteStats(Clock())
    r = routes()
    choice = choose(r, {"b", "backup"}, SE, stats, no_explore(), random.Random(0))
    assert choice is not None and choice.route == "b"
    choice = choose(r, {"backup"}, SE, stats, no_explore(), random.Random(0))
    assert choice is not None and (choice.route, choice.reason) == ("backup", "failover")
    assert choose(r, set(), SE, stats, no_explore(), random.Random(0)) is None
    disabled = [RouteOptions.of("a", 0, enabled=False), RouteOptions.of("b", 1)]
    assert choose(disabled, {"a", "b"}, SE, stats, no_explore(), random.Random(0)).route == "b"  # type: ignore[union-attr]


def test_exploration_sends_a_small_share_to_tier_mates_only() -> None:
    stats = RouteStats(Clock())
    rng = random.Random(3)
    settings = RoutingSettings(exploration=0.1)
    picks = [choose(routes(), {"a", "b", "backup"}, SE, stats, settings, rng) for _ in range(2000)]
    explored = [p for p in picks if p is not None and p.reason == "explore"]
    assert {p.route for p in explored} == {"b"}
    assert 120 < len(explored) < 280
    # Default priorities (configuration order) are tiers of one: no exploration, first ready wins.
    plain = [RouteOptions.of("x", 0), RouteOptions.of("y", 1)]
    assert {choose(plain, {"x", "y"}, SE, stats, settings, rng).route for _ in range(500)} == {"x"}  # type: ignore[union-attr]


def test_latency_breaks_price_ties_when_it_has_a_cost() -> None:
    stats = RouteStats(Clock())
    even = [RouteOptions.of("slow", 0, priority=0, prices={"": 0.02}),
            RouteOptions.of("fast", 1, priority=0, prices={"": 0.02})]
    for _ in range(10):
        stats.record("slow", "+46", True, 5000)
        stats.record("fast", "+46", True, 200)
    assert rank(even, {"slow", "fast"}, SE, stats, no_explore())[0].name == "slow"  # config order
    assert rank(even, {"slow", "fast"}, SE, stats, no_explore(latency_cost_per_s=0.001))[0].name == "fast"


def test_counters_decay_and_peers_count() -> None:
    clock = Clock()
    stats = RouteStats(clock, half_life_s=10)
    for _ in range(8):
        stats.record("a", "+46", False)
    assert stats.quality("a", "+46").failed == pytest.approx(8)
    clock.now += 10_000
    assert stats.quality("a", "+46").failed == pytest.approx(4)
    from tidings.routing.stats import Cell

    stats.set_peers([("a", "+46", Cell(delivered=6, at_ms=clock.now)), ("a", "+46", Cell(delivered=2, at_ms=clock.now))])
    q = stats.quality("a", "+46")
    assert (q.delivered, q.failed) == (pytest.approx(8), pytest.approx(4))
