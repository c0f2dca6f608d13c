"""A project's policy settings: caps, collapse window, quiet hours — parsed from and shown as the
JSON of `GET/PUT /tidings/v1/projects/{project_id}/policy` (docs/subsystems/policy.md#settings).

    {
      "caps": {"engagement": {"per_day": 1, "per_week": 3}, "information": null},
      "collapse_window_seconds": 3600,
      "collapse_identical_bodies": false,
      "quiet_hours": {
        "enabled": true,
        "purposes": ["engagement"],
        "default": {"spans": [{"start": "21:00", "end": "08:00"}]},
        "countries": {"FR": {"spans": [{"start": "20:00", "end": "08:00"}],
                             "quiet_weekdays": [6], "holidays": ["12-25"]}}
      },
      "content_safety": {"tenant_domains": ["acmebank.com"], "phi_allowed_channels": ["RCS"]},
      "smpp": {"purposes": {"<service plan id>": "engagement"}}
    }

Every key is optional in a PUT; what is left out keeps its default. Security can neither be
capped nor deferred (a PUT naming it is refused).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tidings.policy.caps import DEFAULT_CAPS, EXEMPT, CapRule
from tidings.policy.content_safety import DEFAULT_PHI_CHANNELS
from tidings.policy.quiet_hours import Curfew, Span, parse_clock

__all__ = ["PURPOSES", "PolicySettings", "parse_settings", "settings_json"]

PURPOSES = ("engagement", "information", "security", "satisfaction")
MAX_WINDOW_SECONDS = 30 * 24 * 3600
MAX_TENANT_DOMAINS = 100
SMPP_DEFAULT_PURPOSE = "information"


@dataclass(frozen=True)
class PolicySettings:
    caps: Mapping[str, CapRule] = field(default_factory=lambda: dict(DEFAULT_CAPS))
    collapse_window_ms: int = 3600 * 1000
    # Collapse on a hash of recipient and body when a message has no `collapse_key` (off by
    # default: a sender repeating a text on purpose is not refused without asking for it).
    collapse_identical: bool = False
    quiet_enabled: bool = True
    quiet_purposes: frozenset[str] = frozenset({"engagement"})
    quiet_default: Curfew | None = None  # None: the built-in default
    quiet_countries: Mapping[str, Curfew] = field(default_factory=dict)
    # Content safety: the tenant's own domains join the brand list (look-alikes of them are
    # caught); health information may go only on these channels.
    tenant_domains: tuple[str, ...] = ()
    phi_allowed_channels: frozenset[str] = DEFAULT_PHI_CHANNELS
    # Purpose of SMPP gateway submissions per service plan (absent: information).
    smpp_purposes: Mapping[str, str] = field(default_factory=dict)

    def smpp_purpose(self, service_plan_id: str) -> str:
        return self.smpp_purposes.get(service_plan_id, SMPP_DEFAULT_PURPOSE)


def _fail(path: str, text: str) -> ValueError:
    return ValueError(f"{path}: {text}")


def _purpose(path: str, value: object) -> str:
    if not isinstance(value, str) or value not in PURPOSES:
        raise _fail(path, f"must be one of {', '.join(PURPOSES)}")
    if value in EXEMPT:
        raise _fail(path, f"{value} messages are exempt and cannot be capped or deferred")
    return value


def _limit(path: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
        raise _fail(path, "must be an integer from 0 to 10000, or null")
    return value


def _caps(raw: object) -> dict[str, CapRule]:
    if not isinstance(raw, dict):
        raise _fail("caps", "must be an object of purpose → {per_day, per_week}")
    caps = dict(DEFAULT_CAPS)
    for purpose, rule in raw.items():
        _purpose(f"caps.{purpose}", purpose)
        if rule is None:
            caps.pop(purpose, None)
            continue
        if not isinstance(rule, dict) or set(rule) - {"per_day", "per_week"}:
            raise _fail(f"caps.{purpose}", "must be {per_day, per_week} or null")
        caps[purpose] = CapRule(_limit(f"caps.{purpose}.per_day", rule.get("per_day")),
                                _limit(f"caps.{purpose}.per_week", rule.get("per_week")))
    return caps


def _weekdays(path: str, raw: object) -> frozenset[int]:
    if not isinstance(raw, list) or not all(isinstance(d, int) and not isinstance(d, bool)
                                            and 0 <= d <= 6 for d in raw):
        raise _fail(path, "must be a list of weekdays, 0 (Monday) to 6 (Sunday)")
    return frozenset(raw)


def _curfew(path: str, raw: object) -> Curfew:
    if not isinstance(raw, dict) or set(raw) - {"spans", "quiet_weekdays", "holidays"}:
        raise _fail(path, "must be {spans, quiet_weekdays, holidays}")
    spans = []
    for i, s in enumerate(raw.get("spans") or []):
        p = f"{path}.spans[{i}]"
        if not isinstance(s, dict) or set(s) - {"start", "end", "days"} or not {"start", "end"} <= set(s):
            raise _fail(p, "must be {start, end[, days]}")
        try:
            start, end = parse_clock(s["start"]), parse_clock(s["end"])
        except ValueError as exc:
            raise _fail(p, str(exc)) from None
        days = _weekdays(f"{p}.days", s["days"]) if s.get("days") is not None else None
        spans.append(Span(start, end, days))
    holidays = set()
    for h in raw.get("holidays") or []:
        try:
            month, day = (int(x) for x in str(h).split("-"))
            if not (1 <= month <= 12 and 1 <= day <= 31):
                raise ValueError
        except ValueError:
            raise _fail(f"{path}.holidays", f"{h!r} is not MM-DD") from None
        holidays.add((month, day))
    return Curfew(tuple(spans), _weekdays(f"{path}.quiet_weekdays", raw.get("quiet_weekdays") or []),
                  frozenset(holidays))


def _domain_list(raw: object) -> tuple[str, ...]:
    path = "content_safety.tenant_domains"
    if not isinstance(raw, list) or len(raw) > MAX_TENANT_DOMAINS:
        raise _fail(path, f"must be a list of at most {MAX_TENANT_DOMAINS} domain names")
    out = []
    for i, d in enumerate(raw):
        name = d.strip().lower().rstrip(".") if isinstance(d, str) else ""
        labels = name.split(".")
        if (len(labels) < 2 or len(name) > 253
                or not all(label and len(label) <= 63 and label.replace("-", "").isalnum() for label in labels)):
            raise _fail(f"{path}[{i}]", "is not a domain name")
        out.append(name)
    return tuple(sorted(set(out)))


def _content_safety(raw: object) -> dict[str, Any]:
    if not isinstance(raw, dict) or set(raw) - {"tenant_domains", "phi_allowed_channels"}:
        raise _fail("content_safety", "must be {tenant_domains, phi_allowed_channels}")
    out: dict[str, Any] = {}
    if raw.get("tenant_domains") is not None:
        out["tenant_domains"] = _domain_list(raw["tenant_domains"])
    if raw.get("phi_allowed_channels") is not None:
        channels = raw["phi_allowed_channels"]
        if not isinstance(channels, list) or not all(isinstance(c, str) and c.strip().isalnum() for c in channels):
            raise _fail("content_safety.phi_allowed_channels", "must be a list of channel names (RCS, SMS, …)")
        out["phi_allowed_channels"] = frozenset(c.strip().upper() for c in channels)
    return out


def _smpp(raw: object) -> dict[str, Any]:
    if not isinstance(raw, dict) or set(raw) - {"purposes"}:
        raise _fail("smpp", "must be {purposes}")
    purposes = raw.get("purposes") or {}
    if not isinstance(purposes, dict):
        raise _fail("smpp.purposes", "must be an object of service plan id → purpose")
    out = {}
    for plan, purpose in purposes.items():
        if not isinstance(purpose, str) or purpose not in PURPOSES:
            raise _fail(f"smpp.purposes.{plan}", f"must be one of {', '.join(PURPOSES)}")
        out[plan] = purpose
    return {"smpp_purposes": out}


def parse_settings(raw: object) -> PolicySettings:
    """Settings from their JSON; ValueError("path: what is wrong") otherwise."""
    if raw is None:
        return PolicySettings()
    if not isinstance(raw, dict):
        raise _fail("body", "must be a JSON object")
    unknown = set(raw) - {"caps", "collapse_window_seconds", "collapse_identical_bodies", "quiet_hours",
                          "content_safety", "smpp"}
    if unknown:
        raise _fail(sorted(unknown)[0], "unknown field")
    out: dict[str, Any] = {}
    if raw.get("caps") is not None:
        out["caps"] = _caps(raw["caps"])
    if raw.get("collapse_window_seconds") is not None:
        w = raw["collapse_window_seconds"]
        if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= MAX_WINDOW_SECONDS:
            raise _fail("collapse_window_seconds", f"must be an integer from 0 to {MAX_WINDOW_SECONDS}")
        out["collapse_window_ms"] = w * 1000
    if raw.get("collapse_identical_bodies") is not None:
        if not isinstance(raw["collapse_identical_bodies"], bool):
            raise _fail("collapse_identical_bodies", "must be true or false")
        out["collapse_identical"] = raw["collapse_identical_bodies"]
    quiet = raw.get("quiet_hours")
    if quiet is not None:
        if not isinstance(quiet, dict) or set(quiet) - {"enabled", "purposes", "default", "countries"}:
            raise _fail("quiet_hours", "must be {enabled, purposes, default, countries}")
        if "enabled" in quiet:
            if not isinstance(quiet["enabled"], bool):
                raise _fail("quiet_hours.enabled", "must be true or false")
            out["quiet_enabled"] = quiet["enabled"]
        if quiet.get("purposes") is not None:
            if not isinstance(quiet["purposes"], list):
                raise _fail("quiet_hours.purposes", "must be a list of purposes")
            out["quiet_purposes"] = frozenset(
                _purpose(f"quiet_hours.purposes[{i}]", p) for i, p in enumerate(quiet["purposes"]))
        if quiet.get("default") is not None:
            out["quiet_default"] = _curfew("quiet_hours.default", quiet["default"])
        if quiet.get("countries") is not None:
            if not isinstance(quiet["countries"], dict):
                raise _fail("quiet_hours.countries", "must be an object of country → curfew")
            countries = {}
            for cc, c in quiet["countries"].items():
                if not (isinstance(cc, str) and len(cc) == 2 and cc.isalpha()):
                    raise _fail(f"quiet_hours.countries.{cc}", "is not an ISO 3166 alpha-2 code")
                countries[cc.upper()] = _curfew(f"quiet_hours.countries.{cc}", c)
            out["quiet_countries"] = countries
    if raw.get("content_safety") is not None:
        out.update(_content_safety(raw["content_safety"]))
    if raw.get("smpp") is not None:
        out.update(_smpp(raw["smpp"]))
    return PolicySettings(**out)


def _clock(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")


def _curfew_json(c: Curfew) -> dict[str, Any]:
    return {
        "spans": [{"start": _clock(s.start_s), "end": _clock(s.end_s),
                   **({"days": sorted(s.days)} if s.days is not None else {})} for s in c.spans],
        "quiet_weekdays": sorted(c.quiet_weekdays),
        "holidays": [f"{m:02d}-{d:02d}" for m, d in sorted(c.holidays)],
    }


def settings_json(s: PolicySettings) -> dict[str, Any]:
    """The settings as the API shows them (every purpose listed; null = uncapped)."""
    return {
        "caps": {p: ({"per_day": r.per_day, "per_week": r.per_week} if (r := s.caps.get(p)) else None)
                 for p in PURPOSES if p not in EXEMPT},
        "collapse_window_seconds": s.collapse_window_ms // 1000,
        "collapse_identical_bodies": s.collapse_identical,
        "quiet_hours": {
            "enabled": s.quiet_enabled,
            "purposes": sorted(s.quiet_purposes),
            "default": _curfew_json(s.quiet_default) if s.quiet_default is not None else None,
            "countries": {cc: _curfew_json(c) for cc, c in sorted(s.quiet_countries.items())},
        },
        "content_safety": {"tenant_domains": list(s.tenant_domains),
                           "phi_allowed_channels": sorted(s.phi_allowed_channels)},
        "smpp": {"purposes": dict(sorted(s.smpp_purposes.items()))},
    }
