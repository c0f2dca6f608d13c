"""Carrier behaviour by number prefix: latency, failures, lost receipts, throttling, rejection.

A rule applies to every number starting with its prefix (digits, '+' optional); the longest
matching prefix wins and the empty prefix is the default for every other number. All draws come
from one `random.Random(seed)`, so a seeded sandbox behaves the same on every run given the same
traffic in the same order.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Generic, Protocol, TypeVar

from tidings.smpp.constants import CommandStatus

__all__ = ["Behaviour", "Draw", "InvalidRule", "Rules", "normalize_prefix"]

DEFAULT_ERROR_CODE = 34


class _Described(Protocol):
    def as_json(self) -> dict[str, Any]: ...


B = TypeVar("B", bound=_Described)
"""GSM MAP 'system failure', the network error a failed delivery reports unless configured."""
DEFAULT_LATENCY_MS = (20, 200)


class InvalidRule(ValueError):
    """A rule with an unknown field or an out-of-range value."""


def normalize_prefix(prefix: str) -> str:
    """Digits only: '+46', '46' and '%2B46' (already decoded to '+46') are the same prefix;
    'default', '*' and '' are the default rule."""
    value = prefix.strip()
    if value in ("", "*", "default"):
        return ""
    digits = value.removeprefix("+")
    if not digits.isdigit() or not digits.isascii():
        raise InvalidRule(f"a prefix is digits with an optional '+': {prefix!r}")
    return digits


@dataclass(frozen=True)
class Behaviour:
    latency_min_ms: int = DEFAULT_LATENCY_MS[0]
    latency_max_ms: int = DEFAULT_LATENCY_MS[1]
    failure_rate: float = 0.0
    error_code: int = DEFAULT_ERROR_CODE
    receipt_loss_rate: float = 0.0
    throttle_rate: float = 0.0
    reject_rate: float = 0.0
    reject_status: int = CommandStatus.ESME_RSUBMITFAIL

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Behaviour:
        """Build from keyword options or a JSON object.

        `latency_ms` may be a number, `[min, max]` or `{"min": .., "max": ..}`; every other key is
        a field name. Raises `InvalidRule`.
        """
        values: dict[str, Any] = {}
        names = {f.name for f in fields(cls)}
        for key, value in options.items():
            if key == "latency_ms":
                values["latency_min_ms"], values["latency_max_ms"] = _latency(value)
            elif key in names:
                values[key] = value
            else:
                raise InvalidRule(f"unknown rule field {key!r}")
        behaviour = cls(**values)
        behaviour._check()
        return behaviour

    def _check(self) -> None:
        for name in ("failure_rate", "receipt_loss_rate", "throttle_rate", "reject_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise InvalidRule(f"{name} must be a number from 0 to 1")
        for name in ("latency_min_ms", "latency_max_ms", "error_code", "reject_status"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidRule(f"{name} must be a non-negative integer")
        if self.latency_min_ms > self.latency_max_ms:
            raise InvalidRule("latency min is above max")
        if self.error_code > 0xFFFF:
            raise InvalidRule("error_code must fit in 16 bits")
        if self.reject_status == CommandStatus.ESME_ROK or self.reject_status > 0xFFFFFFFF:
            raise InvalidRule("reject_status must be an SMPP error status")

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["latency_ms"] = {"min": data.pop("latency_min_ms"), "max": data.pop("latency_max_ms")}
        return data


def _latency(value: Any) -> tuple[int, int]:
    if isinstance(value, Mapping):
        low, high = value.get("min"), value.get("max", value.get("min"))
    elif isinstance(value, (list, tuple)) and len(value) == 2:  # noqa: PLR2004
        low, high = value
    else:
        low = high = value
    if isinstance(low, bool) or isinstance(high, bool) or not isinstance(low, int) or not isinstance(high, int):
        raise InvalidRule("latency_ms is an integer, [min, max] or {\"min\": .., \"max\": ..}")
    return low, high


class Draw:
    """The seeded random source every behaviour decision draws from."""

    def __init__(self, seed: int | None) -> None:
        self._random = random.Random(seed)

    def chance(self, rate: float) -> bool:
        """True with probability `rate`; always draws, so the sequence does not depend on rates."""
        return self._random.random() < rate

    def latency_ms(self, behaviour: Behaviour) -> int:
        return self._random.randint(behaviour.latency_min_ms, behaviour.latency_max_ms)


class Rules(Generic[B]):
    """Behaviour by prefix, longest match first: the SMSC's `Behaviour`s by default, or any other
    kind of behaviour made by `default` (the voice network's)."""

    def __init__(self, default: Callable[[], B] = Behaviour) -> None:  # type: ignore[assignment]
        self._default = default
        self._rules: dict[str, B] = {"": default()}

    def set(self, prefix: str, behaviour: B) -> None:
        self._rules[normalize_prefix(prefix)] = behaviour

    def delete(self, prefix: str) -> bool:
        """Remove a rule (the default goes back to the built-in behaviour); False if none."""
        key = normalize_prefix(prefix)
        if key == "":
            self._rules[""] = self._default()
            return True
        return self._rules.pop(key, None) is not None

    def items(self) -> list[tuple[str, B]]:
        """(prefix digits, behaviour) of every rule, the default's prefix ''."""
        return list(self._rules.items())

    def match(self, number: str) -> B:
        digits = number.removeprefix("+")
        for end in range(len(digits), -1, -1):
            behaviour = self._rules.get(digits[:end])
            if behaviour is not None:
                return behaviour
        return self._rules[""]

    def as_json(self) -> list[dict[str, Any]]:
        return [
            {"prefix": "+" + prefix if prefix else "", **behaviour.as_json()}
            for prefix, behaviour in sorted(self._rules.items())
        ]
