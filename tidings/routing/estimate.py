"""Prices in API answers (Tidings extension fields): the estimated `price` per recipient of an
XMS dry run, and the recorded `cost` in a recipient's delivery report."""

from __future__ import annotations

from typing import Any

from tidings.routing.prices import RouteOptions, estimate
from tidings.runtime.context import Context

__all__ = ["routes_of", "with_cost", "with_prices"]


def routes_of(ctx: Context) -> list[RouteOptions]:
    if ctx.sms_routes is not None:
        return ctx.sms_routes
    from tidings.runtime.pipeline import route_options

    return route_options(ctx.settings.smpp_connections)


def with_prices(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """Each `per_recipient` entry gets `price` {amount, currency} for its parts on the route the
    configuration prefers (live statistics may pick another at send time); absent when no route
    has a price for the destination."""
    routes = routes_of(ctx)
    for entry in body.get("per_recipient") or ():
        price = estimate(routes, entry["recipient"], int(entry.get("number_of_parts") or 1))
        if price is not None:
            entry["price"] = price.as_json()
    return body


def with_cost(body: dict[str, Any], cost: Any) -> dict[str, Any]:
    """`cost` {amount, currency, route} once the message was sent on a priced route."""
    if cost is not None:
        body["cost"] = {"amount": cost.amount, "currency": cost.currency, "route": cost.route}
    return body
