"""The engine's claim: a message another worker claimed in the same millisecond is not sent again."""

from __future__ import annotations

from typing import Any

import pytest

from tidings.channels.contract import Capability, OutboundMessage, SendResult
from tidings.conversations import engine as engine_module
from tidings.conversations.engine import ConversationEngine
from tidings.store.conversation_schema import conv_apps, conv_messages
from tidings.store.db import Database

NOW = 1_800_000_000_000


class CountingConnector:
    channel = "SMS"

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []

    async def capability(self, message: OutboundMessage) -> Capability:
        return Capability(True)

    async def send(self, message: OutboundMessage) -> SendResult:
        self.sent.append(message)
        return SendResult(f"batch-{len(self.sent)}")


async def _pending_message(db: Database, message_id: str, *, claimed_ms: int | None) -> None:
    async with db.write() as conn:
        await conn.execute(conv_apps.insert().values(
            id="app1", project_id="p1", display_name="A", channel_credentials=[],
            conversation_metadata_report_view="NONE", processing_mode="CONVERSATION", settings={},
            created_ms=NOW))
        await conn.execute(conv_messages.insert().values(
            id=message_id, project_id="p1", app_id="app1", conversation_id=None, contact_id=None,
            direction="TO_CONTACT", content={"text_message": {"text": "hi"}}, channel=None, identity=None,
            metadata=None, correlation_id=None, callback_url=None, processing_mode="DISPATCH", ttl_ms=None,
            plan=[{"channel": "SMS", "identity": "+46705555555"}], plan_index=0, tries=0, state="PENDING",
            next_ms=NOW, claimed_ms=claimed_ms, attempt_id=None, reason=None, channel_message_id=None,
            accept_ms=NOW, idempotency_key=None, request_hash=None, extensions=None))


class _StaleDueIds:
    """The due-ids read of a worker that looked before another worker's claim committed."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids

    async def rows(self, conn: Any, params: dict[str, Any]) -> list[tuple[str]]:
        return [(i,) for i in self.ids]


async def test_a_message_claimed_by_another_worker_in_the_same_ms_is_left_alone(
        any_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    # Worker A claimed the message at NOW; worker B read it as due just before, at the same ms.
    await _pending_message(any_db, "m1", claimed_ms=NOW)
    monkeypatch.setattr(engine_module, "_DUE_IDS", _StaleDueIds(["m1"]))
    connector = CountingConnector()
    worker_b = ConversationEngine(any_db, lambda: NOW, {"SMS": connector})  # type: ignore[dict-item]
    assert await worker_b.run_once() == 0
    assert connector.sent == []


async def test_an_unclaimed_due_message_is_claimed_and_sent_once(any_db: Database) -> None:
    await _pending_message(any_db, "m2", claimed_ms=None)
    connector = CountingConnector()
    worker = ConversationEngine(any_db, lambda: NOW, {"SMS": connector})  # type: ignore[dict-item]
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0
    assert [m.message_id for m in connector.sent] == ["m2"]
