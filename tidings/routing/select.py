"""The routing decision: which route carries a message to a number (a function of its inputs, but
for the health each route's statistics remember, step 2).

    1. candidates: enabled routes whose connection is bound (a disconnected route fails over);
    2. healthy ones: not measured below `min_delivery_rate` over at least `min_samples` outcomes
       (when none is healthy, all candidates stay in, best first); a route found unhealthy stays
       so until its rate is back to `min_delivery_rate + recovery_margin`, so that one lucky
       delivery on a collapsed route does not swing the traffic back to it (the route's health is
       remembered in its `RouteStats`);
    3. the best priority tier among them (lower number first);
    4. in the tier, the lowest score: price per delivered message (price / delivery rate) plus
       `latency_cost_per_s` times the mean latency; routes without a price for the destination
       rank after those with one; ties keep configuration order;
    5. exploration: with probability `exploration`, another candidate of the same tier instead,
       so every route's statistics stay fresh.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from tidings.routing.prices import Price, RouteOptions, destination_key
from tidings.routing.stats import Quality, RouteStats

__all__ = ["Choice", "RoutingSettings", "Scored", "choose", "rank"]

PRICE_FLOOR = 1e-6
"""Free routes still compare by delivery rate."""


@dataclass(frozen=True)
class RoutingSettings:
    exploration: float = 0.05
    min_delivery_rate: float = 0.5
    recovery_margin: float = 0.1  # an unhealthy route is healthy again at min_delivery_rate + this
    min_samples: float = 5.0
    latency_cost_per_s: float = 0.0
    half_life_s: float = 600.0
    max_weight: float = 20.0  # outcomes remembered at most: bounds how long a collapse takes to show
    receipt_timeout_s: float = 900.0  # a dispatched message without a final status by then counts as failed
    share_interval_s: float = 5.0  # how often a worker writes and reads the shared statistics


@dataclass(frozen=True)
class Scored:
    options: RouteOptions
    quality: Quality
    price: Price | None
    healthy: bool
    score: float

    @property
    def name(self) -> str:
        return self.options.name


@dataclass(frozen=True)
class Choice:
    route: str
    reason: str  # "best", "explore" or "failover" (the best-priority route is not usable)
    ranked: tuple[Scored, ...]


def rank(routes: Sequence[RouteOptions], ready: set[str], number: str, stats: RouteStats,
         settings: RoutingSettings) -> list[Scored]:
    """Usable routes to `number`, best first (steps 1-4)."""
    key = destination_key(number)
    scored = []
    for options in routes:
        if not options.enabled or options.name not in ready:
            continue
        quality = stats.quality(options.name, key)
        healthy = stats.judge_health(options.name, key, quality, settings.min_samples,
                                     settings.min_delivery_rate, settings.recovery_margin)
        price = options.price(number)
        score = (max(price.amount if price else 0.0, PRICE_FLOOR) / max(quality.delivery_rate, 0.01)
                 + settings.latency_cost_per_s * (quality.latency_ms or 0.0) / 1000)
        scored.append(Scored(options, quality, price, healthy, score))
    # sorted() is stable: equal keys keep configuration order.
    return sorted(scored, key=lambda s: (not s.healthy, s.options.priority, s.price is None, s.score))


def choose(routes: Sequence[RouteOptions], ready: set[str], number: str, stats: RouteStats,
           settings: RoutingSettings, rng: random.Random) -> Choice | None:
    ranked = rank(routes, ready, number, stats, settings)
    if not ranked:
        return None
    best = ranked[0]
    top_priority = min((r.priority for r in routes if r.enabled), default=best.options.priority)
    reason = "best" if best.healthy and best.options.priority == top_priority else "failover"
    mates = [s for s in ranked[1:] if s.options.priority == best.options.priority]
    if mates and rng.random() < settings.exploration:
        return Choice(rng.choice(mates).name, "explore", tuple(ranked))
    return Choice(best.name, reason, tuple(ranked))
