"""The sandbox voice network: flash calls and callouts placed on virtual handsets.

Implements `tidings.voice.network.VoiceNetwork`. Every call is recorded on the called handset's
call log — caller id, time, kind (flash | callout), what was spoken, duration, answered or
missed — and served at `GET /sandbox/v1/handsets/{number}/calls`. A flash call rings once and
hangs up, so it is always a missed call whose caller id is the point; a callout is answered
with the probability of its prefix rule (`answer_rate`) and then "speaks" its text (recorded as
`spoken_text`; a missed callout spoke nothing).

Failures follow the protocol: an invalid number or an unreachable handset raises
`PermanentDeliveryError` (SIP-style codes 404 and 480), a network failure drawn from the
prefix rule's `failure_rate` raises `TransientDeliveryError` (503). Call set-up takes the rule's
latency (`latency_ms`: a number, `[min, max]` or `{"min", "max"}`), drawn from the sandbox's
seeded random source. A handset's call log keeps its newest `max_calls` calls, and all logs
together the newest `max_held` (100,000 by default), so memory does not grow with calls placed.
The rules, call logs and call id counter are kept across a restart (`save`, `take_back`;
see `state.py`).

    GET    /handsets/{number}/calls    the call log, oldest first
    DELETE /handsets/{number}/calls    clear it
    GET    /voice/rules                every voice prefix rule
    PUT    /voice/rules/{prefix}       {"latency_ms", "answer_rate", "failure_rate"}
    DELETE /voice/rules/{prefix}       remove one ('default' resets the default rule)
    POST   /voice/calls                place a call: {"kind": "flash", "to", "cli", "ring_seconds"?} or
                                       {"kind": "callout", "to", "speech", "locale"} -> 201
                                       {"call_id"}; the network's failures as HTTP statuses:
                                       404 invalid number, 410 unreachable, 503 call failed
                                       (`tidings.voice.http` is the client)
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tidings.core.errors import PermanentDeliveryError, TransientDeliveryError
from tidings.sandbox.handsets import (
    DEFAULT_MAX_HELD,
    DEFAULT_MAX_MESSAGES,
    Handsets,
    InvalidNumber,
    normalize_number,
)
from tidings.sandbox.held import HeldItems
from tidings.sandbox.rules import Draw, InvalidRule, Rules
from tidings.sandbox.state_file import UnreadableState, member, optional_member

__all__ = [
    "CALL_FAILED",
    "INVALID_NUMBER",
    "UNREACHABLE",
    "SandboxVoice",
    "SavedVoice",
    "VoiceBehaviour",
    "VoiceCall",
]

INVALID_NUMBER = 404
"""Code of the `PermanentDeliveryError` for a number that does not exist (SIP 404 Not Found)."""
UNREACHABLE = 480
"""Code of the `PermanentDeliveryError` for an unreachable handset (SIP 480 Temporarily Unavailable)."""
CALL_FAILED = 503
"""Code in the message of the `TransientDeliveryError` for a drawn network failure (SIP 503)."""

DEFAULT_CALLOUT_CLI = "+15550100000"
"""The caller id callouts show (the sandbox's own voice platform number)."""
FLASH_RING_MS = 1500
"""How long a flash call rings before it hangs up, unless its caller says (`ring_seconds`)."""
_MS_PER_WORD = 450
_CALLOUT_OVERHEAD_MS = 1500  # pick-up and greeting pause before the speech

CallKind = Literal["flash", "callout"]


@dataclass(frozen=True)
class VoiceCall:
    call_id: str
    sender: str  # the caller id shown on the handset
    recipient: str
    kind: CallKind
    spoken_text: str | None
    locale: str | None
    started_at_ms: int
    duration_ms: int
    answered: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.call_id,
            "from": self.sender,
            "to": self.recipient,
            "kind": self.kind,
            "spoken_text": self.spoken_text,
            "locale": self.locale,
            "started_at": _iso(self.started_at_ms),
            "duration_ms": self.duration_ms,
            "answered": self.answered,
        }


@dataclass(frozen=True)
class VoiceBehaviour:
    latency_min_ms: int = 20
    latency_max_ms: int = 200
    answer_rate: float = 1.0
    failure_rate: float = 0.0

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> VoiceBehaviour:
        """From keyword options or a JSON object; raises `InvalidRule`."""
        values: dict[str, Any] = {}
        for key, value in options.items():
            if key == "latency_ms":
                values["latency_min_ms"], values["latency_max_ms"] = _latency(value)
            elif key in ("answer_rate", "failure_rate"):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                    raise InvalidRule(f"{key} must be a number from 0 to 1")
                values[key] = float(value)
            else:
                raise InvalidRule(f"unknown voice rule field {key!r}")
        return cls(**values)

    def as_json(self) -> dict[str, Any]:
        return {"latency_ms": {"min": self.latency_min_ms, "max": self.latency_max_ms},
                "answer_rate": self.answer_rate, "failure_rate": self.failure_rate}


def _latency(value: Any) -> tuple[int, int]:
    if isinstance(value, Mapping):
        low, high = value.get("min"), value.get("max", value.get("min"))
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        low, high = value
    else:
        low = high = value
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in (low, high)):
        raise InvalidRule("latency_ms is a non-negative integer, [min, max] or {\"min\": .., \"max\": ..}")
    assert isinstance(low, int) and isinstance(high, int)
    if low > high:
        raise InvalidRule("latency min is above max")
    return low, high


def _iso(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def speech_duration_ms(text: str) -> int:
    """How long a text-to-speech voice takes to say `text`, roughly."""
    return _CALLOUT_OVERHEAD_MS + _MS_PER_WORD * len(text.split())


class SandboxVoice:
    """The voice network of a sandbox: a `VoiceNetwork` and a `SandboxService`."""

    def __init__(self, handsets: Handsets, draw: Draw, clock: Callable[[], int], *,
                 callout_cli: str = DEFAULT_CALLOUT_CLI, max_calls: int = DEFAULT_MAX_MESSAGES,
                 max_held: int = DEFAULT_MAX_HELD) -> None:
        self.handsets = handsets
        self.draw = draw
        self.clock = clock
        self.callout_cli = normalize_number(callout_cli)
        self.max_calls = max_calls
        self._rules: Rules[VoiceBehaviour] = Rules(VoiceBehaviour)
        self._calls: dict[str, deque[VoiceCall]] = {}
        self._held: HeldItems[str, VoiceCall] = HeldItems(max_held)
        self._ids = itertools.count(1)
        self._changed = asyncio.Event()

    # -- rules -------------------------------------------------------------------------------------

    def set_rule(self, prefix: str, **options: Any) -> VoiceBehaviour:
        """Voice behaviour for numbers starting with `prefix` ('' for every other number):
        latency_ms, answer_rate, failure_rate. Raises `InvalidRule`."""
        return self._set_rule(prefix, options)

    def _set_rule(self, prefix: str, options: Mapping[str, Any]) -> VoiceBehaviour:
        behaviour = VoiceBehaviour.from_options(options)
        self._rules.set(prefix, behaviour)
        return behaviour

    def delete_rule(self, prefix: str) -> bool:
        return self._rules.delete(prefix)

    def rule_for(self, number: str) -> VoiceBehaviour:
        return self._rules.match(number)

    # -- VoiceNetwork ------------------------------------------------------------------------------

    async def place_flash_call(self, to: str, cli: str, ring_seconds: int | None = None) -> str:
        try:
            caller = normalize_number(cli)
        except InvalidNumber as exc:
            raise PermanentDeliveryError(f"caller id {cli!r} is not an E.164 number", INVALID_NUMBER) from exc
        recipient, _ = await self._connect(to)
        ring_ms = FLASH_RING_MS if ring_seconds is None else ring_seconds * 1000
        return self._record(caller, recipient, "flash", None, None, ring_ms, answered=False)

    async def place_callout(self, to: str, speech: str, locale: str) -> str:
        recipient, behaviour = await self._connect(to)
        text = " ".join(speech.split())
        if self.draw.chance(behaviour.answer_rate):
            return self._record(self.callout_cli, recipient, "callout", text, locale,
                                speech_duration_ms(text), answered=True)
        return self._record(self.callout_cli, recipient, "callout", None, locale, 0, answered=False)

    async def _connect(self, to: str) -> tuple[str, VoiceBehaviour]:
        try:
            handset = self.handsets.get(to)
        except InvalidNumber as exc:
            raise PermanentDeliveryError(f"{to!r} is not an E.164 number", INVALID_NUMBER) from exc
        behaviour = self.rule_for(handset.number)
        latency = self.draw.latency_ms(behaviour)  # type: ignore[arg-type]
        failed = self.draw.chance(behaviour.failure_rate)
        if latency:
            await asyncio.sleep(latency / 1000)
        if not handset.valid:
            raise PermanentDeliveryError(f"{handset.number} is not an assigned number", INVALID_NUMBER)
        if not handset.reachable:
            raise PermanentDeliveryError(f"{handset.number} is unreachable", UNREACHABLE)
        if failed:
            raise TransientDeliveryError(f"{CALL_FAILED}: the call to {handset.number} failed")
        return handset.number, behaviour

    def _record(self, sender: str, recipient: str, kind: CallKind, spoken: str | None,
                locale: str | None, duration_ms: int, *, answered: bool) -> str:
        call = VoiceCall(f"call-{next(self._ids):08d}", sender, recipient, kind, spoken, locale,
                         self.clock(), duration_ms, answered)
        self._keep(call)
        return call.call_id

    def _keep(self, call: VoiceCall) -> None:
        log = self._calls.get(call.recipient)
        if log is None:
            log = self._calls[call.recipient] = deque(maxlen=self.max_calls)
        log.append(call)
        for number in self._held.add(call.recipient, log, call):
            if not self._calls.get(number, True):  # its log is empty now
                del self._calls[number]
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    # -- kept across a restart (see `state.py`) ----------------------------------------------------

    def save(self) -> dict[str, Any]:
        """The rules, every call log (calls oldest first) and the next call id's number, as JSON."""
        number = next(self._ids)
        self._ids = itertools.count(number)
        calls = sorted((call for log in self._calls.values() for call in log), key=lambda call: call.started_at_ms)
        return {"rules": [{"prefix": prefix, **behaviour.as_json()} for prefix, behaviour in self._rules.items()],
                "next_call": number, "calls": [dataclasses.asdict(call) for call in calls]}

    def take_back(self, saved: SavedVoice) -> None:
        """Go on from a saved state (`SavedVoice.read`): its rules, call logs and call ids."""
        for prefix, behaviour in saved.rules:
            self._rules.set(prefix, behaviour)
        self._ids = itertools.count(saved.next_call)
        for call in saved.calls:
            self._keep(call)

    # -- reading the call log ----------------------------------------------------------------------

    def calls_for(self, number: str) -> list[VoiceCall]:
        """The handset's call log, oldest first. Raises `InvalidNumber`."""
        return list(self._calls.get(normalize_number(number), ()))

    def clear(self, number: str) -> None:
        self._calls.pop(normalize_number(number), None)

    async def wait_for_calls(self, number: str, count: int, timeout: float = 5.0) -> list[VoiceCall]:
        """The call log once it holds at least `count` calls; TimeoutError after `timeout` seconds."""
        key = normalize_number(number)
        async with asyncio.timeout(timeout):
            while len(self._calls.get(key, ())) < count:
                await self._changed.wait()
        return self.calls_for(key)

    # -- SandboxService ----------------------------------------------------------------------------

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/handsets/{number}/calls", self._list_calls, methods=["GET"]),
            Route("/handsets/{number}/calls", self._clear_calls, methods=["DELETE"]),
            Route("/voice/calls", self._place_call, methods=["POST"]),
            Route("/voice/rules", self._list_rules, methods=["GET"]),
            Route("/voice/rules/{prefix}", self._put_rule, methods=["PUT"]),
            Route("/voice/rules/{prefix}", self._delete_rule, methods=["DELETE"]),
        ]

    async def _list_calls(self, request: Request) -> Response:
        try:
            calls = self.calls_for(request.path_params["number"])
        except InvalidNumber as exc:
            return _error(400, "invalid_number", str(exc))
        return _json({"calls": [call.as_json() for call in calls]})

    async def _clear_calls(self, request: Request) -> Response:
        try:
            self.clear(request.path_params["number"])
        except InvalidNumber as exc:
            return _error(400, "invalid_number", str(exc))
        return Response(status_code=204)

    async def _place_call(self, request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(400, "invalid_json", "the body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "invalid_json", "the body must be a JSON object")
        kind, to = body.get("kind"), body.get("to")
        if not isinstance(to, str):
            return _error(400, "invalid_call", "to must be a string (E.164)")
        try:
            if kind == "flash":
                cli, ring = body.get("cli"), body.get("ring_seconds")
                if not isinstance(cli, str):
                    return _error(400, "invalid_call", "a flash call needs cli (E.164)")
                if ring is not None and (not isinstance(ring, int) or isinstance(ring, bool) or not 1 <= ring <= 300):
                    return _error(400, "invalid_call", "ring_seconds must be a whole number of seconds, 1 to 300")
                call_id = await self.place_flash_call(to, cli, ring)
            elif kind == "callout":
                speech, locale = body.get("speech"), body.get("locale", "en-US")
                if not isinstance(speech, str) or not isinstance(locale, str):
                    return _error(400, "invalid_call", "a callout needs speech and locale strings")
                call_id = await self.place_callout(to, speech, locale)
            else:
                return _error(400, "invalid_call", 'kind must be "flash" or "callout"')
        except PermanentDeliveryError as exc:
            if exc.code == UNREACHABLE:
                return _error(410, "unreachable", str(exc))
            return _error(404, "invalid_number", str(exc))
        except TransientDeliveryError as exc:
            return _error(503, "call_failed", str(exc))
        return _json({"call_id": call_id}, 201)

    async def _list_rules(self, request: Request) -> Response:
        return _json({"rules": self._rules.as_json()})

    async def _put_rule(self, request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(400, "invalid_json", "the body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "invalid_json", "the body must be a JSON object")
        prefix = request.path_params["prefix"]
        try:
            behaviour = self._set_rule(prefix, body)
        except InvalidRule as exc:
            return _error(400, "invalid_rule", str(exc))
        return _json({"prefix": prefix, **behaviour.as_json()})

    async def _delete_rule(self, request: Request) -> Response:
        try:
            removed = self.delete_rule(request.path_params["prefix"])
        except InvalidRule as exc:
            return _error(400, "invalid_rule", str(exc))
        if not removed:
            return _error(404, "not_found", "no voice rule for that prefix")
        return Response(status_code=204)


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _error(status: int, code: str, message: str) -> Response:
    return _json({"error": {"code": code, "message": message}}, status)


@dataclass
class SavedVoice:
    """The voice network's state as `SandboxVoice.save` wrote it, read and checked."""

    rules: list[tuple[str, VoiceBehaviour]]
    next_call: int
    calls: list[VoiceCall]

    @classmethod
    def read(cls, document: Any) -> SavedVoice:
        """Raises `UnreadableState`."""
        rules = []
        for item in member(document, "rules", list):
            options = dict(item) if isinstance(item, dict) else {}
            prefix = options.pop("prefix", None)
            if not isinstance(prefix, str):
                raise UnreadableState(f"a voice rule without a prefix: {item!r:.60}")
            try:
                rules.append((prefix, VoiceBehaviour.from_options(options)))
            except (InvalidRule, TypeError) as exc:
                raise UnreadableState(f"voice rule {prefix!r}: {exc}") from exc
        calls = []
        for item in member(document, "calls", list):
            kind = member(item, "kind", str)
            if kind not in ("flash", "callout"):
                raise UnreadableState(f"a call is a flash call or a callout, not {kind!r:.20}")
            calls.append(VoiceCall(
                member(item, "call_id", str), member(item, "sender", str), member(item, "recipient", str),
                "flash" if kind == "flash" else "callout", optional_member(item, "spoken_text", str),
                optional_member(item, "locale", str), member(item, "started_at_ms", int),
                member(item, "duration_ms", int), member(item, "answered", bool)))
        return cls(rules, member(document, "next_call", int), calls)
