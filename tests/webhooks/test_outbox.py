"""Outbox rows: written with the change that causes them, or not at all."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from tidings.actions.projects import ProjectCredentials
from tidings.store.db import Database
from tidings.store.schema import inbounds, webhook_outbox
from tidings.webhooks import outbox, sender, signing, sms_events, testing

NOW = 1_714_564_800_000


def test_a_new_row_is_pending_due_now_and_never_attempted() -> None:
    row = outbox.webhook_row("P1", "https://example.test/hook", "mo_text", b'{"a":1}', NOW)
    assert row == {
        "project_id": "P1", "url": "https://example.test/hook", "kind": "mo_text",
        "body": b'{"a":1}', "attempts": 0, "due_ms": NOW, "claimed_ms": None,
        "state": outbox.PENDING, "last_error": None, "created_ms": NOW, "delivered_ms": None,
        "secret": None,
    }
    # Every column without a server default is provided, so a plain insert of it works.
    required = {c.name for c in webhook_outbox.columns if not c.primary_key}
    assert set(row) == required


def _inbound_row(project_id: str) -> dict[str, object]:
    return {"id": "01HXMO", "project_id": project_id, "service_plan_id": None, "type": "mo_text",
            "sender": "+46701234567", "recipient": "12345", "body": "hi", "received_ms": NOW,
            "connection": None, "smsc_message_id": None}


async def test_rows_commit_with_the_change_that_caused_them(
    any_db: Database, project: ProjectCredentials
) -> None:
    body = sms_events.encode(sms_events.mo_text(
        id="01HXMO", sender="+46701234567", to="12345", body="hi", received_at_ms=NOW))
    async with any_db.write() as conn:
        await conn.execute(insert(inbounds).values(_inbound_row(project.project_id)))
        await outbox.enqueue(conn, [
            outbox.webhook_row(project.project_id, "http://a.test/1", "mo_text", body, NOW),
            outbox.webhook_row(project.project_id, "http://b.test/2", "mo_text", body, NOW + 1),
        ])
    async with any_db.read() as conn:
        rows = (await conn.execute(select(webhook_outbox).order_by(webhook_outbox.c.id))).all()
    assert [(r.url, r.state, r.due_ms, bytes(r.body)) for r in rows] == [
        ("http://a.test/1", "pending", NOW, body), ("http://b.test/2", "pending", NOW + 1, body),
    ]


async def test_rows_roll_back_with_the_change_that_caused_them(
    any_db: Database, project: ProjectCredentials
) -> None:
    with pytest.raises(RuntimeError):
        async with any_db.write() as conn:
            await conn.execute(insert(inbounds).values(_inbound_row(project.project_id)))
            await outbox.enqueue(conn, [
                outbox.webhook_row(project.project_id, "http://a.test/1", "mo_text", b"{}", NOW)])
            raise RuntimeError("the change failed after the webhook was queued")
    async with any_db.read() as conn:
        assert (await conn.execute(select(webhook_outbox))).all() == []
        assert (await conn.execute(select(inbounds))).all() == []


async def test_enqueueing_nothing_is_a_no_op(any_db: Database) -> None:
    async with any_db.write() as conn:
        await outbox.enqueue(conn, [])
    async with any_db.read() as conn:
        assert (await conn.execute(select(webhook_outbox))).all() == []


async def test_purging_removes_only_finished_rows_older_than_the_cutoff(
    any_db: Database, project: ProjectCredentials
) -> None:
    async with any_db.write() as conn:
        rows = [outbox.webhook_row(project.project_id, "http://a.test", "mo_text", b"{}", NOW + i)
                for i in range(6)]
        for row, state in zip(rows, ["delivered", "expired", "pending", "rejected", "delivered",
                                     "pending"], strict=True):
            row["state"] = state
        await outbox.enqueue(conn, rows)
    async with any_db.write() as conn:
        assert await outbox.purge_finished(conn, created_before_ms=NOW + 4, limit=1) == 1
    async with any_db.write() as conn:
        assert await outbox.purge_finished(conn, created_before_ms=NOW + 4) == 2
    async with any_db.read() as conn:
        left = (await conn.execute(select(webhook_outbox.c.created_ms, webhook_outbox.c.state)
                                   .order_by(webhook_outbox.c.id))).all()
    assert [(r.created_ms - NOW, r.state) for r in left] == [
        (2, "pending"), (4, "delivered"), (5, "pending")]


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (signing, {"NONCE_HEADER", "SIGNATURE_HEADER", "TIMESTAMP_HEADER", "signature", "sign",
                   "verify"}),
        (sms_events, {"BATCH_DELIVERY_REPORT", "MO_BINARY", "MO_TEXT", "RECIPIENT_DELIVERY_REPORT",
                      "batch_delivery_report", "encode", "iso_timestamp", "mo_binary", "mo_text",
                      "recipient_delivery_report"}),
        (outbox, {"DELIVERED", "EXPIRED", "PENDING", "REJECTED", "Candidate", "Claimed", "Expired",
                  "claim", "defer", "defer_url", "due_candidates", "enqueue", "expire", "lock",
                  "mark_delivered", "mark_expired", "mark_failed", "mark_rejected", "project_secrets",
                  "purge_finished", "webhook_row"}),
        (sender, {"WebhookSender"}),
        (testing, {"ManualClock", "ReceivedRequest", "WebhookReceiver"}),
    ],
)
def test_public_names_do_not_change_by_accident(module: object, names: set[str]) -> None:
    exported = set(module.__all__)  # type: ignore[attr-defined]
    assert exported == names
    assert all(hasattr(module, name) for name in exported)
