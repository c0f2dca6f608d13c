"""Route configuration and prices: which routes exist, their priority, and what a part costs.

A route is a named SMPP connection with routing options (`RouteOptions`): `priority` (lower is
preferred; routes of equal priority compete on price and quality; by default each route's
position in the configuration, so unconfigured routes keep "first ready in order"), `enabled`,
`prices` (destination prefix -> price per message part, longest prefix wins, "" is the default)
and `currency`. Everything here is pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from tidings.core.calling_codes import calling_code

__all__ = ["Price", "RouteOptions", "destination_key", "estimate", "normalize_prefix", "price_of"]

DEFAULT_CURRENCY = "EUR"


def normalize_prefix(prefix: str) -> str:
    """Digits only: '+46' and '46' are the same prefix; '', '*' and 'default' the default."""
    value = prefix.strip()
    if value in ("", "*", "default"):
        return ""
    digits = value.removeprefix("+")
    if not digits.isdigit() or not digits.isascii():
        raise ValueError(f"a price prefix is digits with an optional '+': {prefix!r}")
    return digits


@dataclass(frozen=True)
class Price:
    amount: float
    currency: str

    def times(self, parts: int) -> Price:
        return Price(round(self.amount * max(1, parts), 6), self.currency)

    def as_json(self) -> dict[str, Any]:
        return {"amount": self.amount, "currency": self.currency}


@dataclass(frozen=True)
class RouteOptions:
    name: str
    priority: int = 0
    enabled: bool = True
    prices: Mapping[str, float] = field(default_factory=dict, hash=False)
    currency: str = DEFAULT_CURRENCY

    @classmethod
    def of(cls, name: str, position: int, *, priority: int | None = None, enabled: bool = True,
           prices: Mapping[str, float] | None = None, currency: str = DEFAULT_CURRENCY) -> RouteOptions:
        table: dict[str, float] = {}
        for prefix, amount in (prices or {}).items():
            if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0:
                raise ValueError(f"route {name}: price for {prefix!r} must be a non-negative number")
            table[normalize_prefix(prefix)] = float(amount)
        return cls(name, position if priority is None else priority, enabled, table, currency)

    def price(self, number: str) -> Price | None:
        """The price of one part to `number`, None when the table has no matching prefix."""
        if not self.prices:
            return None
        digits = number.removeprefix("+")
        for end in range(len(digits), -1, -1):
            amount = self.prices.get(digits[:end])
            if amount is not None:
                return Price(amount, self.currency)
        return None


@lru_cache(maxsize=65536)
def destination_key(number: str) -> str:
    """The destination a route's statistics are kept per: the country calling code ('+46'), or
    the first three digits of a number that starts with none (read off its leading digits:
    `tidings.core.calling_codes`)."""
    digits = number.removeprefix("+")
    code = calling_code(digits)
    return f"+{code}" if code is not None else "+" + digits[:3]


def price_of(routes: Sequence[RouteOptions], route: str, number: str, parts: int) -> Price | None:
    for options in routes:
        if options.name == route:
            price = options.price(number)
            return price.times(parts) if price is not None else None
    return None


def estimate(routes: Sequence[RouteOptions], number: str, parts: int) -> Price | None:
    """What sending `parts` parts to `number` should cost, from configuration alone (no live
    statistics): the cheapest enabled route of the best priority that has a price for it."""
    enabled = [r for r in routes if r.enabled]
    for priority in sorted({r.priority for r in enabled}):
        prices = [p for r in enabled if r.priority == priority and (p := r.price(number)) is not None]
        if prices:
            return min(prices, key=lambda p: p.amount).times(parts)
    return None
