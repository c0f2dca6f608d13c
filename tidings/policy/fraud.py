"""The fraud guard: whether a verification may start, and what its outcomes teach about a prefix.

Verification calls `FraudGuard.check_start(project_id, number, ip, method)` before it sends
anything, and `FraudGuard.record_outcome(project_id, number, success)` when a verification ends
(verified: True; expired, failed or cancelled: False). A start is refused with a `Refusal`
carrying one of these reason codes (docs/subsystems/fraud-guard.md):

    invalid_number            not a valid phone number
    premium_rate_number       premium-rate or shared-cost destination (any method)
    landline_number           landline, for SMS and flash calls
    voip_number               VoIP number, for SMS
    prefix_blocked            the number's prefix is blocked after suspected SMS pumping
    sms_pumping_suspected     this start found the prefix's success rate collapsed and blocked it
    rate_limited_number       too many starts to this number
    rate_limited_ip           too many starts from this client IP
    rate_limited_project      too many starts in this project
    rate_limited_prefix       too many starts to numbers sharing the number's prefix
    rate_limited_country      too many starts to the number's country

Line types come from the numbering plan (`tidings.lookup.numbering`) unless a resolver is given;
an app may allow some (`allow_line_types`). Rate limits are sliding windows; SMS pumping is judged
per prefix: over `pumping_window_s`, if at least `pumping_min_starts` starts have settled (older
than `pumping_grace_s`, or with a known outcome) and fewer than `pumping_min_success_rate` of them
succeeded, the prefix is blocked for `pumping_block_s` and a `PumpingAlert` is logged and handed
to `on_alert`. Every key is per project: one tenant's traffic never throttles another's.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field

from tidings.lookup.numbering import number_facts
from tidings.policy.fraud_store import FraudStore, LocalFraudStore, Window
from tidings.queue.redis_streams import QueueError

__all__ = [
    "REASONS",
    "FraudGuard",
    "FraudSettings",
    "Limit",
    "PumpingAlert",
    "Refusal",
]

log = logging.getLogger(__name__)

INVALID_NUMBER = "invalid_number"
PREMIUM_RATE_NUMBER = "premium_rate_number"
LANDLINE_NUMBER = "landline_number"
VOIP_NUMBER = "voip_number"
PREFIX_BLOCKED = "prefix_blocked"
SMS_PUMPING_SUSPECTED = "sms_pumping_suspected"
RATE_LIMITED = {scope: f"rate_limited_{scope}" for scope in ("number", "ip", "project", "prefix", "country")}
REASONS = frozenset({INVALID_NUMBER, PREMIUM_RATE_NUMBER, LANDLINE_NUMBER, VOIP_NUMBER, PREFIX_BLOCKED,
                     SMS_PUMPING_SUSPECTED, *RATE_LIMITED.values()})

# Line type -> (reason, methods it is refused for). Methods: "sms", "flashcall", "callout".
_ALL_METHODS = frozenset({"sms", "flashcall", "callout", "seamless"})
REFUSED_LINE_TYPES: Mapping[str, tuple[str, frozenset[str]]] = {
    "premium_rate": (PREMIUM_RATE_NUMBER, _ALL_METHODS),
    "shared_cost": (PREMIUM_RATE_NUMBER, _ALL_METHODS),
    "landline": (LANDLINE_NUMBER, frozenset({"sms", "flashcall"})),
    "voip": (VOIP_NUMBER, frozenset({"sms"})),
}


@dataclass(frozen=True)
class Limit:
    """At most `count` starts in any `window_s` seconds."""

    count: int
    window_s: float


@dataclass(frozen=True)
class FraudSettings:
    per_number: Limit | None = Limit(5, 3600)
    per_ip: Limit | None = Limit(30, 3600)
    per_project: Limit | None = Limit(600, 60)
    per_prefix: Limit | None = Limit(200, 3600)
    per_country: Limit | None = Limit(2000, 3600)
    prefix_digits: int = 6  # "+467012…": digits after '+' that make a number's prefix
    pumping_window_s: float = 3600
    pumping_min_starts: int = 20
    pumping_min_success_rate: float = 0.2
    pumping_grace_s: float = 120  # a younger start is not judged until its outcome is known
    pumping_block_s: float = 3600
    pumping_bucket_s: float = 10
    refused_line_types: Mapping[str, tuple[str, frozenset[str]]] = field(
        default_factory=lambda: dict(REFUSED_LINE_TYPES))


@dataclass(frozen=True)
class Refusal:
    reason: str  # one of REASONS
    message: str
    retry_after_ms: int | None = None  # when trying again could succeed (limits and blocks)


@dataclass(frozen=True)
class PumpingAlert:
    project_id: str
    prefix: str  # "+467012"
    settled_starts: int
    successes: int
    blocked_until_ms: int

    @property
    def success_rate(self) -> float:
        return self.successes / self.settled_starts if self.settled_starts else 0.0


AlertHandler = Callable[[PumpingAlert], Awaitable[None] | None]


def normalize_method(method: str) -> str:
    """Verification method names as the Sinch API spells them ("sms", "flashCall", "callout")."""
    return method.replace("_", "").replace("-", "").lower()


class FraudGuard:
    """See the module docstring. `store`: `LocalFraudStore()` (embedded) or `RedisFraudStore`."""

    def __init__(self, store: FraudStore | None = None, settings: FraudSettings | None = None, *,
                 clock: Callable[[], int], on_alert: AlertHandler | None = None,
                 line_type: Callable[[str], str | None] | None = None, fail_open: bool = True) -> None:
        self.store: FraudStore = store if store is not None else LocalFraudStore()
        self.settings = settings or FraudSettings()
        self.clock = clock
        self.on_alert = on_alert
        self._line_type = line_type
        self.fail_open = fail_open

    def prefix_of(self, e164: str) -> str:
        return e164[: 1 + self.settings.prefix_digits]

    async def check_start(self, project_id: str, number: str, ip: str | None, method: str, *,
                          allow_line_types: Collection[str] = ()) -> Refusal | None:
        """None when the start may go ahead (and it is then counted), else why not."""
        facts = number_facts(number)
        if not facts.valid:
            return Refusal(INVALID_NUMBER, f"{number!r} is not a valid phone number")
        refusal = self._line_type_refusal(facts.e164, facts.line_type, normalize_method(method), allow_line_types)
        if refusal is not None:
            return refusal
        try:
            return await self._check_counts(project_id, facts.e164, facts.country, ip)
        except QueueError:
            if not self.fail_open:
                raise
            log.warning("fraud guard store unavailable; start to %s allowed unchecked", facts.e164, exc_info=True)
            return None

    def _line_type_refusal(self, e164: str, numbering_type: str, method: str,
                           allowed: Collection[str]) -> Refusal | None:
        line_type = (self._line_type(e164) if self._line_type is not None else None) or numbering_type
        rule = self.settings.refused_line_types.get(line_type)
        if rule is None or line_type in allowed:
            return None
        reason, methods = rule
        if method not in methods:
            return None
        return Refusal(reason, f"{e164} is a {line_type.replace('_', '-')} number, refused for {method} "
                               "verification unless the app allows it")

    async def _check_counts(self, project_id: str, e164: str, country: str | None, ip: str | None) -> Refusal | None:
        now = self.clock()
        prefix = self.prefix_of(e164)
        block_key = f"{project_id}:block:{prefix}"
        until = await self.store.blocked_until(block_key, now)
        if until is not None:
            return Refusal(PREFIX_BLOCKED, f"numbers starting {prefix} are blocked after suspected SMS pumping",
                           until - now)
        alert = await self._judge_prefix(project_id, prefix, now)
        if alert is not None:
            return Refusal(SMS_PUMPING_SUSPECTED, f"verifications to {prefix} mostly fail ({alert.successes} of "
                           f"{alert.settled_starts} succeeded); the prefix is blocked", alert.blocked_until_ms - now)
        windows, scopes = self._windows(project_id, e164, prefix, country, ip)
        index, wait_ms = await self.store.take(windows, now)
        if index >= 0:
            scope = scopes[index]
            return Refusal(RATE_LIMITED[scope], f"too many verification starts for this {scope}", wait_ms)
        s = self.settings
        await self.store.add(f"{project_id}:starts:{prefix}", now, self._bucket_ms, int(s.pumping_window_s * 1000))
        return None

    def _windows(self, project_id: str, e164: str, prefix: str, country: str | None,
                 ip: str | None) -> tuple[list[Window], list[str]]:
        s = self.settings
        candidates = [("number", s.per_number, e164), ("ip", s.per_ip, ip), ("project", s.per_project, ""),
                      ("prefix", s.per_prefix, prefix), ("country", s.per_country, country)]
        windows: list[Window] = []
        scopes: list[str] = []
        for scope, limit, value in candidates:
            if limit is None or value is None:
                continue
            windows.append(Window(f"{project_id}:rate:{scope}:{value}", limit.count, int(limit.window_s * 1000)))
            scopes.append(scope)
        return windows, scopes

    @property
    def _bucket_ms(self) -> int:
        return max(1, int(self.settings.pumping_bucket_s * 1000))

    async def _judge_prefix(self, project_id: str, prefix: str, now: int) -> PumpingAlert | None:
        s = self.settings
        bucket = self._bucket_ms
        since = now - int(s.pumping_window_s * 1000)
        settled_before = now - int(s.pumping_grace_s * 1000)
        base = f"{project_id}:%s:{prefix}"
        old_starts = await self.store.total(base % "starts", since, settled_before + 1, bucket)
        successes = await self.store.total(base % "successes", since, now + 1, bucket)
        failures = await self.store.total(base % "failures", since, now + 1, bucket)
        settled = max(old_starts, successes + failures)
        if settled < s.pumping_min_starts or successes >= s.pumping_min_success_rate * settled:
            return None
        until = now + int(s.pumping_block_s * 1000)
        if not await self.store.block(f"{project_id}:block:{prefix}", until, now):
            return None  # another process blocked it a moment ago; it raised the alert
        # The prefix starts afresh when the block ends: what led to it is not judged twice.
        await self.store.forget([base % kind for kind in ("starts", "successes", "failures")])
        alert = PumpingAlert(project_id, prefix, settled, successes, until)
        log.warning("suspected SMS pumping: project %s prefix %s, %d of %d verifications succeeded; "
                    "blocked for %ss", project_id, prefix, successes, settled, s.pumping_block_s)
        if self.on_alert is not None:
            result = self.on_alert(alert)
            if inspect.isawaitable(result):
                await result
        return alert

    async def record_outcome(self, project_id: str, number: str, success: bool) -> None:
        """A verification to `number` ended: verified (True) or not (False)."""
        facts = number_facts(number)
        if not facts.valid:
            return
        s = self.settings
        kind = "successes" if success else "failures"
        try:
            await self.store.add(f"{project_id}:{kind}:{self.prefix_of(facts.e164)}", self.clock(),
                                 self._bucket_ms, int(s.pumping_window_s * 1000))
        except QueueError:
            if not self.fail_open:
                raise
            log.warning("fraud guard store unavailable; outcome for %s not recorded", facts.e164, exc_info=True)
