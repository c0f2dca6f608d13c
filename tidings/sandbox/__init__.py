"""The sandbox: a simulated mobile network that speaks real SMPP, for development and tests.

    world     Sandbox, the one object the runtime and tests use
    smsc      the SMSC's behaviour as an SmppServer handler (binds, submits, receipts, MO)
    outbox    receipts and MO queued per ESME account until a session can take them
    handsets  virtual handsets, their inboxes and what they sent
    rules     carrier behaviour by number prefix, drawn from one seeded random source
    api       the /sandbox/v1 REST routes
    state     what a stop saves in the data directory and the next start takes back
              (state_file: the file; smsc_state: an SMSC's unfinished work)

See docs/subsystems/sandbox.md.
"""

from __future__ import annotations

from tidings.sandbox.handsets import Handset, HandsetMessage
from tidings.sandbox.rules import Behaviour, InvalidRule
from tidings.sandbox.world import Sandbox

__all__ = ["Behaviour", "Handset", "HandsetMessage", "InvalidRule", "Sandbox"]
