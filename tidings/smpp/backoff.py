"""Reconnect delays: exponential, capped, with jitter so many clients do not reconnect in step."""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["Backoff"]


class Backoff:
    """Delays `initial`, `initial * multiplier`, ... up to `maximum`, each shortened by up to `jitter`.

    With the default jitter of 0.5 a delay lands uniformly in [base / 2, base]: never longer than
    the cap, never so short that a crowd of clients stampedes a recovering SMSC.
    """

    def __init__(
        self,
        initial: float = 1.0,
        maximum: float = 60.0,
        *,
        multiplier: float = 2.0,
        jitter: float = 0.5,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if initial <= 0 or maximum < initial:
            raise ValueError("need 0 < initial <= maximum")
        if multiplier < 1 or not 0 <= jitter <= 1:
            raise ValueError("need multiplier >= 1 and 0 <= jitter <= 1")
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = jitter
        self._rng = rng
        self.attempts = 0

    def next_delay(self) -> float:
        base = min(self.maximum, self.initial * self.multiplier**self.attempts)
        if base < self.maximum:
            self.attempts += 1
        return base * (1.0 - self.jitter * self._rng())

    def reset(self) -> None:
        self.attempts = 0
