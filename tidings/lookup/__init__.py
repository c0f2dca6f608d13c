"""Number Lookup v2: what is known about a phone number (line type, carrier, porting, reachability).

    numbering  offline facts from the numbering plan (`phonenumbers`)
    live       the seam to a live network's facts, and the sandbox's implementation
    service    a lookup request's features answered in the API's response shape

See docs/subsystems/lookup.md; the HTTP surface is `tidings.api.lookup`.
"""

from __future__ import annotations

from tidings.lookup.live import LiveFacts, LiveNumbers, SandboxNumbers
from tidings.lookup.numbering import NumberFacts, number_facts
from tidings.lookup.service import FEATURES, InvalidLookup, lookup_number

__all__ = ["FEATURES", "InvalidLookup", "LiveFacts", "LiveNumbers", "NumberFacts", "SandboxNumbers",
           "lookup_number", "number_facts"]
