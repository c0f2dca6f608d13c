"""The policy gate: may this message go now, later, or never? (docs/subsystems/policy.md)

Every send path asks it at dispatch time (so a STOP acknowledged before dispatch wins): the SMS
dispatch worker for each claimed batch of deliveries (`tidings.policy.sms_gate`), the
conversation engine before each channel attempt. It applies, in order:

    1. consent         `check_consent(conn, project_id, identity, channel, purpose)` of the consent
                       ledger, where installed
    2. quiet hours     engagement (and the purposes a project adds) deferred to the window's end
    3. frequency caps  per contact and purpose, across channels (`policy_sends`)
    4. collapse        identical informational messages within the window
    5. content safety  `assess_outbound` of the content-safety module, where installed

and returns a `Decision`: allow, defer(until_ms) or reject(reason). An allowed message is counted
in the ledger in the caller's transaction — the one that claims it — so a crash cannot count it
without sending or send it uncounted past the lease. Security messages are exempt from 2–4.

Cost: `evaluate_many` makes one settings read (cached per process for `SETTINGS_TTL_S`), one
ledger read and one ledger insert for a whole batch of messages, whatever its size.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.policy import caps, content_safety, quiet_hours
from tidings.policy.settings import PolicySettings, parse_settings
from tidings.store.queries import policy as pq

__all__ = [
    "ALLOW",
    "Candidate",
    "Decision",
    "PolicyCache",
    "contact_key",
    "evaluate",
    "evaluate_many",
]

log = logging.getLogger(__name__)

SETTINGS_TTL_S = 2.0
CONTENT_BLOCKED = "content_blocked"
SYSTEM = "system"  # purpose of messages Tidings itself sends: exempt from every check
# XMS codes of the reasons this module knows (consent and content safety bring their own).
XMS_CODES: dict[str, int] = {**caps.REASON_CODES, **quiet_hours.REASON_CODES, CONTENT_BLOCKED: 490,
                             "consent_opted_out": 485, "consent_missing": 486}
# Conversation API delivery report reason codes (`reason.code`; `reason.sub_code` is ours).
CONVERSATION_CODES: dict[str, str] = {
    "consent_opted_out": "RECIPIENT_NOT_OPTED_IN",
    "consent_missing": "RECIPIENT_NOT_OPTED_IN",
    quiet_hours.QUIET_HOURS: "OUTSIDE_ALLOWED_SENDING_WINDOW",
}


@dataclass(frozen=True)
class Decision:
    outcome: str  # "allow" | "defer" | "reject"
    reason: str | None = None
    until_ms: int | None = None
    description: str = ""
    code: int | None = None  # the XMS delivery report code

    @property
    def allowed(self) -> bool:
        return self.outcome == "allow"

    @property
    def xms_code(self) -> int | None:
        if self.code is not None:
            return self.code
        return XMS_CODES.get(self.reason or "")

    @property
    def conversation_reason(self) -> dict[str, str]:
        return {"code": CONVERSATION_CODES.get(self.reason or "", "DELIVERY_REJECTED_DUE_TO_POLICY"),
                "sub_code": (self.reason or "UNSPECIFIED").upper(), "description": self.description}

    @classmethod
    def defer(cls, until_ms: int, reason: str, description: str = "") -> Decision:
        return cls("defer", reason, until_ms, description)

    @classmethod
    def reject(cls, reason: str, description: str = "", code: int | None = None) -> Decision:
        return cls("reject", reason, None, description, code)


ALLOW = Decision("allow")


@dataclass(frozen=True)
class Candidate:
    """One message about to go out. `ref` names it ("sms:<delivery id>", "conv:<message id>");
    `contact_keys` are further keys of the same person (a conversation contact's identities)."""

    ref: str
    project_id: str
    channel: str
    identity: str
    purpose: str
    body: str
    collapse_key: str | None = None
    contact_keys: tuple[str, ...] = ()
    time_zone: str | None = None
    # Already judged by the conversation engine (an SMS it sends for one of its messages): only
    # consent is checked again.
    judged: bool = False
    # 8-bit data (an XMS `mt_binary` batch): `body` only tells messages apart (collapse); content
    # safety reads text and has none to read here. Every other check applies.
    binary: bool = False

    def keys(self) -> tuple[str, ...]:
        own = contact_key(self.channel, self.identity)
        return (own, *(k for k in self.contact_keys if k != own))


def contact_key(channel: str, identity: str) -> str:
    """Phone identities (SMS, WhatsApp, RCS, …) are the E.164 number itself, so every channel
    reaching that number counts together; other identities are namespaced by channel."""
    ident = identity.strip()
    if ident.startswith("+") and ident[1:].isdigit():
        return ident
    return f"{channel.upper()}:{ident}"


# -- settings -----------------------------------------------------------------------------------


@dataclass
class PolicyCache:
    """Project settings per process, re-read after `ttl_s` (a PUT in this process drops its entry)."""

    ttl_s: float = SETTINGS_TTL_S
    _entries: dict[str, tuple[float, PolicySettings]] = field(default_factory=dict)

    async def get_many(self, conn: AsyncConnection, project_ids: Sequence[str]) -> dict[str, PolicySettings]:
        now = time.monotonic()
        out: dict[str, PolicySettings] = {}
        missing = []
        for p in set(project_ids):
            entry = self._entries.get(p)
            if entry is not None and now - entry[0] < self.ttl_s:
                out[p] = entry[1]
            else:
                missing.append(p)
        if missing:
            raw = await pq.settings_of(conn, missing)
            for p in missing:
                try:
                    settings = parse_settings(raw.get(p))
                except ValueError:
                    log.warning("project %s has invalid policy settings; using the defaults", p)
                    settings = PolicySettings()
                self._entries[p] = (now, settings)
                out[p] = settings
        return out

    async def get(self, db: Any, project_id: str) -> PolicySettings:
        """One project's settings, reading `db` (a `Database`) only when the cache has none fresh."""
        entry = self._entries.get(project_id)
        if entry is not None and time.monotonic() - entry[0] < self.ttl_s:
            return entry[1]
        async with db.read() as conn:
            return (await self.get_many(conn, [project_id]))[project_id]

    def forget(self, project_id: str) -> None:
        self._entries.pop(project_id, None)


_CACHE = PolicyCache()


def shared_cache() -> PolicyCache:
    return _CACHE


# -- the other engineers' checks, found by name -------------------------------------------------


def _find(candidates: Sequence[tuple[str, str]]) -> Callable[..., Any] | None:
    for module, name in candidates:
        try:
            found = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if callable(found):
            return found  # type: ignore[no-any-return]
    return None


_hooks: dict[str, Callable[..., Any] | None] = {}


def _hook(name: str) -> Callable[..., Any] | None:
    if name not in _hooks:
        where = {
            "consent": [("tidings.policy.consent", "check_consent"), ("tidings.consent.ledger", "check_consent")],
        }[name]
        _hooks[name] = _find(where)
    return _hooks[name]


def _ledger() -> Any:
    try:
        module = importlib.import_module("tidings.consent.ledger")
    except ImportError:
        return None
    return module if hasattr(module, "entries_for") and hasattr(module, "decide_many") else None


async def _consent_many(conn: AsyncConnection, candidates: Sequence[Candidate]) -> list[Decision | None]:
    """Consent refusals per candidate: the ledger's state read once per project for the batch."""
    ledger = _ledger()
    if ledger is None:
        return [await _consent(conn, c, None) for c in candidates]
    by_project: dict[str, list[str]] = defaultdict(list)
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)  # by project, channel, purpose
    for i, c in enumerate(candidates):
        by_project[c.project_id].append(c.identity)
        groups[(c.project_id, c.channel, c.purpose)].append(i)
    entries = {p: await ledger.entries_for(conn, p, ids) for p, ids in by_project.items()}
    results: list[Any] = [None] * len(candidates)
    for (project_id, channel, purpose), members in groups.items():
        decided = await ledger.decide_many(conn, project_id, [candidates[i].identity for i in members],
                                           entries[project_id], channel, purpose)
        for i, result in zip(members, decided, strict=True):
            results[i] = result
    return [None if result.allowed is True else await _consent(conn, c, result)
            for c, result in zip(candidates, results, strict=True)]


async def _consent(conn: AsyncConnection, c: Candidate, result: Any) -> Decision | None:
    if result is None:
        check = _hook("consent")
        if check is None:
            return None
        result = check(conn, c.project_id, c.identity, c.channel, c.purpose)
        if inspect.isawaitable(result):
            result = await result
    allowed = result if isinstance(result, bool) else bool(getattr(result, "allowed", True))
    if allowed:
        return None
    reason = getattr(result, "reason_code", None) or "consent_opted_out"
    return Decision.reject(reason, f"no consent for {c.purpose} on {c.channel}",
                           getattr(result, "xms_code", None))


def _content(c: Candidate, s: PolicySettings) -> Decision | None:
    """Phishing and health information refused per `content_safety.assess_outbound` (cached
    per distinct text and tenant domains, so a batch pays once per body), with the project's
    own domains and the channels it allows health information on."""
    if not c.body or c.binary:
        return None
    verdict = content_safety.assess_outbound(c.body, channel=c.channel, tenant_domains=s.tenant_domains,
                                             phi_allowed_channels=s.phi_allowed_channels, spam_lint=False)
    refusal = verdict.refusal
    if refusal is None:
        return None
    return Decision.reject(refusal.code, refusal.detail, XMS_CODES[CONTENT_BLOCKED])


# -- the gate -----------------------------------------------------------------------------------


def _quiet(c: Candidate, s: PolicySettings, now: int) -> Decision | None:
    if not s.quiet_enabled or c.purpose not in s.quiet_purposes or c.purpose in caps.EXEMPT:
        return None
    country = quiet_hours.country_of(c.identity) if c.identity.startswith("+") else None
    curfew = quiet_hours.curfew_for(country, s.quiet_countries, s.quiet_default)
    zone = quiet_hours.zone_for(c.identity, c.time_zone)
    until = quiet_hours.next_allowed(now, zone, curfew)
    if until is None:
        return None
    return Decision.defer(until, quiet_hours.QUIET_HOURS,
                          f"quiet hours in {zone.key} ({country or 'unknown country'})")


def _collapses(c: Candidate, s: PolicySettings) -> bool:
    return (c.purpose == "information" and s.collapse_window_ms > 0
            and (c.collapse_key is not None or s.collapse_identical))


def _needs_history(c: Candidate, s: PolicySettings) -> bool:
    if c.purpose in caps.EXEMPT or c.judged:
        return False
    return c.purpose in s.caps or _collapses(c, s)


async def evaluate_many(conn: AsyncConnection, candidates: Sequence[Candidate], now: int, *,
                        cache: PolicyCache | None = None) -> list[Decision]:
    """A decision per candidate, in order (earlier candidates count against later ones), with the
    allowed ones counted and the refusals and deferrals recorded in `conn`'s transaction."""
    if not candidates:
        return []
    settings = await (cache or _CACHE).get_many(conn, [c.project_id for c in candidates])
    needs = [_needs_history(c, settings[c.project_id]) for c in candidates]
    tracked = [c for c, needed in zip(candidates, needs, strict=True) if needed]
    keys = {k for c in tracked for k in c.keys()}
    await pq.lock_contacts(conn, (f"{c.project_id}|{k}" for c in tracked for k in c.keys()))
    horizon = max([caps.WEEK_MS] + [s.collapse_window_ms for s in settings.values()])
    history: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in await pq.recent_sends(conn, [c.project_id for c in tracked], list(keys), now - horizon):
        history[(row.project_id, row.contact_key)].append(row)

    consent = await _consent_many(conn, candidates)
    content: dict[tuple[str, str, str], Decision | None] = {}  # a batch's recipients share a text
    decisions: list[Decision] = []
    sends: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    for c, refused, needed in zip(candidates, consent, needs, strict=True):
        s = settings[c.project_id]
        decision = refused or _decide(c, s, now, history, needed, content)
        decisions.append(decision)
        if decision.allowed:
            if needed and not _counted(c, history):
                ckey = caps.collapse_key(c.collapse_key, c.identity, c.body)
                for k in c.keys():
                    send: dict[str, Any] = {"project_id": c.project_id, "contact_key": k, "ref": c.ref,
                                            "purpose": c.purpose, "channel": c.channel, "collapse_key": ckey,
                                            "sent_ms": now}
                    sends.append(send)
                    history[(c.project_id, k)].append(_Row(**send))
        else:
            records.append({"project_id": c.project_id, "ref": c.ref, "channel": c.channel,
                            "identity": c.identity, "purpose": c.purpose, "outcome": decision.outcome,
                            "reason": decision.reason or "unspecified", "until_ms": decision.until_ms,
                            "at_ms": now})
    await pq.insert_sends(conn, sends)
    await pq.insert_decisions(conn, records)
    return decisions


@dataclass(frozen=True)
class _Row:
    project_id: str
    contact_key: str
    ref: str
    purpose: str
    channel: str
    collapse_key: str | None
    sent_ms: int


def _rows_of(c: Candidate, history: dict[tuple[str, str], list[Any]]) -> dict[str, Any]:
    """The contact's ledger rows across its keys, one per message (ref)."""
    out: dict[str, Any] = {}
    for k in c.keys():
        for row in history.get((c.project_id, k), ()):
            out.setdefault(row.ref, row)
    return out


def _counted(c: Candidate, history: dict[tuple[str, str], list[Any]]) -> bool:
    return any(row.ref == c.ref for k in c.keys() for row in history.get((c.project_id, k), ()))


def _decide(c: Candidate, s: PolicySettings, now: int, history: dict[tuple[str, str], list[Any]],
            needs_history: bool, content: dict[tuple[str, str, str], Decision | None]) -> Decision:
    """Everything after consent, in order. `needs_history`: `_needs_history(c, s)`; `content`:
    the content verdicts of this evaluation so far, by text, channel and project."""
    if c.judged or c.purpose == SYSTEM:
        return ALLOW  # the platform's own replies (confirmations, HELP, opt-in requests)
    if c.purpose in caps.EXEMPT:
        return _content_once(c, s, content) or ALLOW
    if needs_history and _counted(c, history):
        return ALLOW  # this very message was let through before (a retry, SMS after Conversation)
    deferred = _quiet(c, s, now)
    if deferred is not None:
        return deferred
    rows = _rows_of(c, history) if needs_history else {}
    window = caps.exceeded(s.caps.get(c.purpose),
                           (r.sent_ms for r in rows.values() if r.purpose == c.purpose), now)
    if window is not None:
        return Decision.reject(caps.FREQUENCY_CAP, f"{c.purpose} cap per {window} reached for this contact")
    if _collapses(c, s):
        key = caps.collapse_key(c.collapse_key, c.identity, c.body)
        if any(r.collapse_key == key and r.sent_ms > now - s.collapse_window_ms for r in rows.values()):
            return Decision.reject(caps.COLLAPSED, "an identical message went to this contact within "
                                   f"{s.collapse_window_ms // 1000} s")
    return _content_once(c, s, content) or ALLOW


def _content_once(c: Candidate, s: PolicySettings,
                  seen: dict[tuple[str, str, str], Decision | None]) -> Decision | None:
    """`_content`, judged once per text, channel and project within one evaluation."""
    key = (c.body, c.channel, c.project_id)
    if key not in seen:
        seen[key] = _content(c, s)
    return seen[key]


async def evaluate(conn: AsyncConnection, ctx: Any, project_id: str, channel: str, identity: str,
                   purpose: str, body: str, now: int, *, ref: str, collapse_key: str | None = None,
                   contact_keys: tuple[str, ...] = (), time_zone: str | None = None,
                   cache: PolicyCache | None = None) -> Decision:
    """The decision for one message (see `evaluate_many`). `ctx` (the runtime context) is not
    needed yet; it is there so every send path calls the gate the same way."""
    candidate = Candidate(ref, project_id, channel, identity, purpose, body, collapse_key,
                          contact_keys, time_zone)
    return (await evaluate_many(conn, [candidate], now, cache=cache))[0]
