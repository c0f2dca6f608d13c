"""The live network's view of a number — reachable now, ported, serving network — when one is known.

`LiveNumbers` is the seam: the embedded profile answers from the sandbox's handsets
(`SandboxNumbers`); a production deployment would wrap an HLR/MNP query. Without one, Number
Lookup answers from the numbering plan only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from tidings.sandbox.handsets import InvalidNumber

if TYPE_CHECKING:
    from tidings.sandbox.world import Sandbox

__all__ = ["LiveFacts", "LiveNumbers", "SandboxNumbers"]


@dataclass(frozen=True)
class LiveFacts:
    reachable: bool
    ported: bool
    carrier: str | None  # the serving network when known (after porting: the new one)
    line_type: str  # tidings.lookup.numbering.LINE_TYPES
    country: str | None


class LiveNumbers(Protocol):
    def facts(self, e164: str) -> LiveFacts | None:
        """What the network knows about `e164` now, or None when it does not know the number."""
        ...


class SandboxNumbers:
    """`LiveNumbers` from the sandbox's virtual handsets (created on first use, like every other
    sandbox query, so a lookup sees the handset a later message will reach)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def facts(self, e164: str) -> LiveFacts | None:
        try:
            handset = self.sandbox.handset(e164)
        except InvalidNumber:
            return None
        if not handset.valid:
            return None
        return LiveFacts(handset.reachable, handset.ported, handset.carrier, handset.line_type, handset.country)
