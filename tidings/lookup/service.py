"""A Number Lookup v2 request answered: validate it, gather the facts, shape the response.

Pure apart from the `LiveNumbers` it is given. The response is the API's camelCase JSON
(`line`, `simSwap`, `voIPDetection`, `rnd`, `countryCode`, `traceId`, `number`); only requested
features appear. A feature that cannot be answered carries an `error` object
(`{status, title, detail, type}`) instead of failing the request, as the API does.

Where each field comes from:

    line.type, countryCode     live network if known, else the numbering plan
    line.carrier               live network's serving carrier if known, else the range holder
    line.ported                live network (false for an un-ported handset); null without one
    voIPDetection.probability  High for VoIP lines, Low for mobile and landline, else Unknown
    simSwap, rnd               live network only (the sandbox never swaps SIMs; an unreachable
                               handset counts as disconnected)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from tidings.lookup.live import LiveFacts, LiveNumbers
from tidings.lookup.numbering import number_facts

__all__ = ["FEATURES", "SINCH_LINE_TYPES", "InvalidLookup", "lookup_number"]

FEATURES = ("LineType", "SimSwap", "VoIPDetection", "RND")
SINCH_LINE_TYPES = {
    "mobile": "Mobile",
    "landline": "Landline",
    "voip": "VoIP",
    "toll_free": "Freephone",
    "premium_rate": "Special",
    "shared_cost": "Special",
    "uan": "Special",
    "personal": "Special",
    "pager": "Special",
    "voicemail": "Special",
    "unknown": "Other",
}
_VOIP_PROBABILITY = {"voip": "High", "mobile": "Low", "landline": "Low"}


class InvalidLookup(ValueError):
    """The request itself is wrong (400 with ProblemDetails)."""

    def __init__(self, detail: str, field: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


def _feature_error(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"status": status, "title": title, "detail": detail, "type": "about:blank"}


def _no_live(feature: str) -> dict[str, Any]:
    return {"error": _feature_error(501, "Not Implemented",
                                    f"{feature} needs a live network source; none is configured")}


def parse_request(body: Any) -> tuple[str, list[str], date | None]:
    """(number, features, RND contact date) from the request body; raises `InvalidLookup`."""
    if not isinstance(body, Mapping):
        raise InvalidLookup("the body must be a JSON object", "body")
    number = body.get("number")
    if not isinstance(number, str) or not number.strip():
        raise InvalidLookup("'number' is required: an MSISDN in E.164 format", "number")
    raw = body.get("features")
    if raw is None:
        raw = []
    if not isinstance(raw, list) or not all(isinstance(f, str) for f in raw):
        raise InvalidLookup("'features' must be a list of feature names", "features")
    unknown = [f for f in raw if f not in FEATURES]
    if unknown:
        raise InvalidLookup(f"unknown features {unknown}; known: {list(FEATURES)}", "features")
    features = list(dict.fromkeys(raw)) or ["LineType"]
    contact: date | None = None
    if "RND" in features:
        options = body.get("rndFeatureOptions")
        # The SDK 2.3.0 sends the option's key in snake_case: both spellings are taken.
        value = (options.get("contactDate", options.get("contact_date"))
                 if isinstance(options, Mapping) else None)
        if not isinstance(value, str):
            raise InvalidLookup("'rndFeatureOptions.contactDate' is required with the RND feature",
                                "rndFeatureOptions.contactDate")
        try:
            contact = datetime.fromisoformat(value.replace("Z", "+00:00")).date()
        except ValueError as exc:
            raise InvalidLookup("'rndFeatureOptions.contactDate' must be a date (YYYY-MM-DD)",
                                "rndFeatureOptions.contactDate") from exc
    return number, features, contact


def lookup_number(body: Any, live: LiveNumbers | None, trace_id: str) -> dict[str, Any]:
    """The response for a lookup request body; raises `InvalidLookup`."""
    number, features, _contact = parse_request(body)
    facts = number_facts(number)
    if not facts.valid:
        raise InvalidLookup(f"{number!r} is not a valid phone number in E.164 format", "number")
    now: LiveFacts | None = live.facts(facts.e164) if live is not None else None
    line_type = now.line_type if now is not None else facts.line_type
    response: dict[str, Any] = {}
    if "LineType" in features:
        response["line"] = {
            "carrier": (now.carrier if now is not None and now.carrier else None) or facts.carrier,
            "type": SINCH_LINE_TYPES.get(line_type, "Other"),
            "mobileCountryCode": None,
            "mobileNetworkCode": None,
            "ported": now.ported if now is not None else None,
            "portingDate": None,
        }
    if "SimSwap" in features:
        response["simSwap"] = {"swapped": False, "swapPeriod": "Undefined"} if now is not None else _no_live("SimSwap")
    if "VoIPDetection" in features:
        response["voIPDetection"] = {"probability": _VOIP_PROBABILITY.get(line_type, "Unknown")}
    if "RND" in features:
        response["rnd"] = {"disconnected": not now.reachable} if now is not None else _no_live("RND")
    response["countryCode"] = (now.country if now is not None and now.country else None) or facts.country
    response["traceId"] = trace_id
    response["number"] = facts.e164
    return response
