"""The context every action and worker receives: the profile's shared services.

Actions never ask which profile they run in; they use what the context gives them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tidings.config import Settings
from tidings.queue.base import DispatchQueue
from tidings.store.db import Database
from tidings.store.group_commit import GroupCommitter
from tidings.voice.network import VoiceNetwork

if TYPE_CHECKING:
    from tidings.lookup.live import LiveNumbers
    from tidings.policy.fraud import FraudGuard
    from tidings.routing.prices import RouteOptions


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Context:
    settings: Settings
    db: Database
    committer: GroupCommitter
    dispatch: DispatchQueue
    clock: Callable[[], int] = field(default=now_ms)
    # Places flash calls and callouts (verification); the sandbox's in the embedded profile.
    voice: VoiceNetwork | None = None
    # Refuses risky verification starts (rate limits, SMS pumping, line types); None: no checks.
    fraud: FraudGuard | None = None
    # Live facts about numbers (reachable, ported, carrier) for Number Lookup; the sandbox's in
    # the embedded profile, None where only the numbering plan is known.
    live_numbers: LiveNumbers | None = None
    # Per conversation connector id: its base URL ("base_url") and options, set by the runtime
    # (e.g. the sandbox mail server's SMTP port for "email"); see channels/registry.py.
    channel_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The SMS routes' options (priority, prices) as the pipeline runs them, for price estimates;
    # None: derived from settings.smpp_connections (an API process of the distributed profile).
    sms_routes: list[RouteOptions] | None = None
    # Called once a transaction that gives the conversation engine work has committed (a message
    # or app event accepted, a platform's event stored): the engine in this process, if any, acts
    # at once instead of at its next poll. Set by `ConversationWorker`; in an API process of the
    # distributed profile it announces the work to the workers' engines (`announce_to_workers`).
    conversation_work: Callable[[], None] = field(default=lambda: None)
