"""The voice network seam: what verification needs from whatever places phone calls.

The sandbox implements it (calls land on sandbox handsets); a production deployment would wrap a
carrier's voice API. Errors: an unreachable or refused destination raises
`tidings.core.errors.PermanentDeliveryError`; a temporary failure raises `TransientDeliveryError`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["VoiceNetwork"]


@runtime_checkable
class VoiceNetwork(Protocol):
    async def place_flash_call(self, to: str, cli: str, ring_seconds: int | None = None) -> str:
        """Ring `to` (E.164) from caller id `cli` (E.164) and hang up unanswered, after
        `ring_seconds` (the Verification API's `flashCallOptions.dialTimeout`; None: the network's
        own choice, a ring or so); returns a call id."""
        ...

    async def place_callout(self, to: str, speech: str, locale: str) -> str:
        """Call `to` (E.164) and speak `speech` in `locale` (e.g. "en-US"); returns a call id."""
        ...
