"""The sender ID check on a send path: a project's registry and policy, cached for `ttl_ms`, and
`tidings.policy.sender_ids.decide`. The SMS dispatch worker calls it before routing; any other
path (SMPP server, Conversation API over SMS) can call `SenderGate.decide` the same way."""

from __future__ import annotations

from collections.abc import Callable

from tidings.policy.sender_ids import RegisteredSender, SenderDecision, SenderPolicy, decide
from tidings.store import senders as sq
from tidings.store.db import Database

__all__ = ["SenderGate"]


class SenderGate:
    def __init__(self, db: Database, clock: Callable[[], int], *, ttl_ms: int = 2000) -> None:
        self.db = db
        self.clock = clock
        self.ttl_ms = ttl_ms
        self._cache: dict[str, tuple[int, dict[str, RegisteredSender], SenderPolicy]] = {}

    async def decide(self, project_id: str, sender: str | None, recipient: str) -> SenderDecision:
        now = self.clock()
        cached = self._cache.get(project_id)
        if cached is None or now - cached[0] > self.ttl_ms:
            async with self.db.read() as conn:
                policy = await sq.load_policy(conn, project_id)
                registry = await sq.load_registry(conn, project_id) if policy.mode != "off" else {}
            cached = self._cache[project_id] = (now, registry, policy)
        return decide(sender, recipient, cached[1], cached[2])
