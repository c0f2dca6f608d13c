"""Conversation API retention, in both profiles: each app's messages go as its
`retention_policy` (and, for DISPATCH mode, `dispatch_retention_policy`) says, never one still
being delivered; an app is refused a policy Sinch would refuse; and platform events once applied
are forgotten after the webhook retention."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tidings.actions.conversations import do_create_app, do_update_app
from tidings.config import Settings
from tidings.conversations.retention import DAY_MS, purge_app_messages
from tidings.core.errors import RequestError
from tidings.queue.local import LocalDispatchQueue
from tidings.runtime.context import Context
from tidings.store.conversation_schema import conv_apps, conv_attempts, conv_conversations, conv_messages
from tidings.store.db import Database
from tidings.store.group_commit import GroupCommitter
from tidings.workers.sweeper import Sweeper
from tidings.workers.writer import OutcomeWriter

NOW = 1_800_000_000_000
PROJECT = "p-retention"


def app_row(app_id: str, settings: dict[str, Any], mode: str = "CONVERSATION") -> dict[str, Any]:
    return {"id": app_id, "project_id": PROJECT, "display_name": app_id, "channel_credentials": [],
            "conversation_metadata_report_view": "NONE", "processing_mode": mode, "settings": settings,
            "created_ms": NOW - 4000 * DAY_MS}


def message(message_id: str, app_id: str, age_days: float, state: str = "DELIVERED", *,
            conversation: str | None = None, mode: str = "CONVERSATION") -> dict[str, Any]:
    return {"id": message_id, "project_id": PROJECT, "app_id": app_id, "conversation_id": conversation,
            "contact_id": None, "direction": "TO_CONTACT", "content": {"text_message": {"text": "hi"}},
            "channel": "SMS", "identity": "+46701234567", "metadata": None, "correlation_id": None,
            "callback_url": None, "processing_mode": mode, "ttl_ms": None, "plan": None, "plan_index": 0,
            "tries": 0, "state": state, "next_ms": None, "claimed_ms": None, "attempt_id": None, "reason": None,
            "channel_message_id": None, "accept_ms": int(NOW - age_days * DAY_MS), "idempotency_key": None,
            "request_hash": None, "extensions": None}


def conversation(conversation_id: str, app_id: str, last_age_days: float) -> dict[str, Any]:
    return {"id": conversation_id, "project_id": PROJECT, "app_id": app_id, "contact_id": "c",
            "active": True, "active_channel": "SMS", "metadata": None,
            "created_ms": NOW - 4000 * DAY_MS, "last_ms": int(NOW - last_age_days * DAY_MS)}


async def left(db: Database) -> tuple[list[str], list[str], list[str]]:
    async with db.read() as conn:
        messages = sorted((await conn.execute(select(conv_messages.c.id))).scalars())
        conversations = sorted((await conn.execute(select(conv_conversations.c.id))).scalars())
        attempts = sorted((await conn.execute(select(conv_attempts.c.message_id))).scalars())
    return messages, conversations, attempts


async def test_each_app_keeps_what_its_policy_says(any_db: Database) -> None:
    apps = [
        app_row("default", {}),  # MESSAGE_EXPIRE_POLICY, 180 days
        app_row("short", {"retention_policy": {"retention_type": "MESSAGE_EXPIRE_POLICY", "ttl_days": 7}}),
        app_row("threads", {"retention_policy": {"retention_type": "CONVERSATION_EXPIRE_POLICY", "ttl_days": 30}}),
        app_row("keep", {"retention_policy": {"retention_type": "PERSIST_RETENTION_POLICY"}}),
        app_row("dispatch", {"dispatch_retention_policy": {"retention_type": "MESSAGE_EXPIRE_POLICY", "ttl_days": 0}},
                mode="DISPATCH"),
    ]
    messages = [
        message("default-old", "default", 181), message("default-new", "default", 179),
        message("default-busy", "default", 400, "WAITING"),  # still being delivered: stays
        message("short-old", "short", 8, "READ"), message("short-new", "short", 6),
        message("short-in", "short", 9, "RECEIVED"),
        message("threads-stale-1", "threads", 90, conversation="stale"),
        message("threads-stale-2", "threads", 40, conversation="stale"),
        message("threads-live-1", "threads", 90, conversation="live"),  # its thread is recent: stays
        message("threads-live-2", "threads", 1, conversation="live"),
        message("threads-pending-1", "threads", 90, "PENDING", conversation="pending"),
        message("keep-old", "keep", 3000),
        message("dispatch-done", "dispatch", 0.01, "FAILED", mode="DISPATCH"),
        message("dispatch-busy", "dispatch", 0.01, "PENDING", mode="DISPATCH"),
    ]
    async with any_db.write() as conn:
        await conn.execute(conv_apps.insert(), apps)
        await conn.execute(conv_conversations.insert(), [
            conversation("stale", "threads", 31), conversation("live", "threads", 1),
            conversation("pending", "threads", 60)])
        await conn.execute(conv_messages.insert(), messages)
        await conn.execute(conv_attempts.insert(), [
            {"message_id": m["id"], "position": 0, "channel": "SMS", "identity": None, "state": "SENT",
             "reason": None, "channel_message_id": None, "billing_category": None, "tries": 1,
             "created_ms": m["accept_ms"], "deadline_ms": None, "finished_ms": None} for m in messages])

    async with any_db.write() as conn:
        assert await purge_app_messages(conn, NOW, 1000) == 6
    kept = ["default-busy", "default-new", "dispatch-busy", "keep-old", "short-new", "threads-live-1",
            "threads-live-2", "threads-pending-1"]
    assert await left(any_db) == (kept, ["live", "pending"], kept)
    async with any_db.write() as conn:
        assert await purge_app_messages(conn, NOW, 1000) == 0


async def test_the_sweeper_purges_in_chunks(any_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    async with any_db.write() as conn:
        await conn.execute(conv_apps.insert(), [app_row("a", {"retention_policy": {"ttl_days": 1}})])
        await conn.execute(conv_messages.insert(), [message(f"m{i:02d}", "a", 2) for i in range(25)])
    from tidings.workers import sweeper as sweeper_module

    monkeypatch.setattr(sweeper_module, "PURGE_CHUNK", 10)
    ctx = Context(Settings(), any_db, GroupCommitter(any_db), LocalDispatchQueue(), lambda: NOW)
    assert await Sweeper(ctx, OutcomeWriter(any_db, ctx.clock)).purge_conversation_messages() == 25
    assert (await left(any_db))[0] == []


@pytest.mark.parametrize("field, value", [
    ("retention_policy", {"retention_type": "FOREVER"}),
    ("retention_policy", {"retention_type": "MESSAGE_EXPIRE_POLICY", "ttl_days": 0}),
    ("retention_policy", {"ttl_days": 3651}),
    ("retention_policy", {"ttl_days": "30"}),
    ("retention_policy", "180"),
    ("dispatch_retention_policy", {"retention_type": "CONVERSATION_EXPIRE_POLICY"}),
    ("dispatch_retention_policy", {"ttl_days": 8}),
])
async def test_apps_are_refused_a_policy_sinch_refuses(any_db: Database, field: str, value: Any) -> None:
    ctx = Context(Settings(), any_db, GroupCommitter(any_db), LocalDispatchQueue(), lambda: NOW)
    body = {"display_name": "x", "channel_credentials": []}
    with pytest.raises(RequestError) as refused:
        await do_create_app(ctx, PROJECT, {**body, field: value})
    assert refused.value.http_status == 400 and field in refused.value.text
    app = await do_create_app(ctx, PROJECT, {**body, "retention_policy": {
        "retention_type": "CONVERSATION_EXPIRE_POLICY", "ttl_days": 3650},
        "dispatch_retention_policy": {"retention_type": "MESSAGE_EXPIRE_POLICY", "ttl_days": 0}})
    assert app["retention_policy"] == {"retention_type": "CONVERSATION_EXPIRE_POLICY", "ttl_days": 3650}
    with pytest.raises(RequestError):
        await do_update_app(ctx, PROJECT, app["id"], {field: value})
    async with any_db.read() as conn:
        settings = (await conn.execute(select(conv_apps.c.settings))).scalar_one()
    assert settings["retention_policy"]["ttl_days"] == 3650  # the refused update changed nothing


async def test_applied_platform_events_are_forgotten_after_the_webhook_retention(any_db: Database) -> None:
    from tidings.store.conversation_schema import conv_channel_events

    week = 7 * DAY_MS
    rows = [{"kind": "status", "body": {"n": n}, "received_ms": NOW - age, "due_ms": NOW - age, "tries": 0,
             "claimed_ms": None, "processed_ms": processed}
            for n, (age, processed) in enumerate([
                (week + 5, NOW - week - 1),  # applied over a week ago: goes
                (week + 5, NOW - week + 1),  # applied just under a week ago: stays
                (week * 3, None),  # never applied (retried, or not yet due): stays
            ])]
    async with any_db.write() as conn:
        await conn.execute(conv_channel_events.insert(), rows)
    ctx = Context(Settings(webhook_retention_seconds=7 * 24 * 3600), any_db, GroupCommitter(any_db),
                  LocalDispatchQueue(), lambda: NOW)
    assert await Sweeper(ctx, OutcomeWriter(any_db, ctx.clock)).purge_channel_events() == 1
    async with any_db.read() as conn:
        kept = sorted(r["n"] for r in (await conn.execute(select(conv_channel_events.c.body))).scalars())
    assert kept == [1, 2]


async def test_finished_app_events_are_forgotten_after_the_webhook_retention(any_db: Database) -> None:
    from tidings.store.conversation_schema import conv_app_events

    week = 7 * DAY_MS
    rows = [{"id": f"E{n}", "project_id": PROJECT, "app_id": "A", "contact_id": None, "conversation_id": None,
             "channel": "MESSENGER", "identity": "psid", "event": {"composing_event": {}}, "metadata": None,
             "callback_url": None, "processing_mode": "CONVERSATION", "state": state, "reason": None,
             "tries": 1, "next_ms": None, "claimed_ms": None, "accept_ms": NOW - age}
            for n, (age, state) in enumerate([
                (week + 1, "DELIVERED"),  # finished over a week ago: goes
                (week + 1, "FAILED"),  # likewise
                (week - 1, "DELIVERED"),  # just under a week: stays
                (week * 3, "PENDING"),  # still being delivered: stays
            ])]
    async with any_db.write() as conn:
        await conn.execute(conv_app_events.insert(), rows)
    ctx = Context(Settings(webhook_retention_seconds=7 * 24 * 3600), any_db, GroupCommitter(any_db),
                  LocalDispatchQueue(), lambda: NOW)
    assert await Sweeper(ctx, OutcomeWriter(any_db, ctx.clock)).purge_app_events() == 2
    async with any_db.read() as conn:
        kept = sorted((await conn.execute(select(conv_app_events.c.id))).scalars())
    assert kept == ["E2", "E3"]
