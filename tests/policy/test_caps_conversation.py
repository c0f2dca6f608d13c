"""The gate on the Conversation path against a real database, both profiles: purpose from
message_metadata, a contact's identities counted together with SMS API sends, its time zone."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from tidings.consent import ledger
from tidings.policy.conversation_gate import check_attempt, message_policy
from tidings.policy.gate import Candidate, PolicyCache, evaluate_many
from tidings.store.conversation_schema import conv_contacts, conv_identities
from tidings.store.db import Database
from tidings.store.schema import projects

PROJECT = "pc"
PHONE = "+33612345678"
NOON = int(dt.datetime(2026, 3, 4, 12, 0, tzinfo=ZoneInfo("Europe/Paris")).timestamp() * 1000)

T = NOON - 2 * 3600 * 1000


@pytest.fixture(autouse=True)
async def contact(any_db: Database) -> None:
    async with any_db.write() as conn:
        await conn.execute(insert(projects).values(id=PROJECT, name="c", webhook_secret="s", created_ms=NOON))
        await conn.execute(insert(conv_contacts).values(id="C1", project_id=PROJECT, created_ms=NOON,
                                                        metadata='{"time_zone": "Asia/Tokyo"}'))
        await conn.execute(insert(conv_identities), [
            {"project_id": PROJECT, "channel": "WHATSAPP", "identity": PHONE, "contact_id": "C1", "position": 0},
            {"project_id": PROJECT, "channel": "MESSENGER", "identity": "psid-9", "contact_id": "C1", "position": 1},
        ])
        for identity in (PHONE, "psid-9"):
            await ledger.record(conn, PROJECT, ledger.Event(identity, "*", "engagement", "opt_in", "api",
                                                            {"request_id": "t"}, NOON - 1000))


def message(mid: str, metadata: str | None) -> SimpleNamespace:
    return SimpleNamespace(id=mid, project_id=PROJECT, contact_id="C1", metadata=metadata,
                           content={"text_message": {"text": "Spring sale"}})


def test_message_policy_from_metadata() -> None:
    assert message_policy('{"purpose": "Engagement", "collapse_key": "k"}') == ("engagement", "k")
    assert message_policy('{"purpose": "spam"}') == ("information", None)
    assert message_policy("not json") == ("information", None)
    assert message_policy(None) == ("information", None)


async def test_messenger_then_sms_api_share_the_cap(any_db: Database) -> None:
    # 10:00 in Paris, 18:00 in the contact's Tokyo: outside every curfew (the number's country,
    # France, says 20:00–08:00 — in the contact's own time zone).
    sent = await check_attempt(any_db, message("M1", '{"purpose": "engagement"}'),
                               {"channel": "MESSENGER", "identity": "psid-9"}, T, cache=PolicyCache())
    assert sent.allowed
    # Retried on the same message: counted once, still allowed.
    again = await check_attempt(any_db, message("M1", '{"purpose": "engagement"}'),
                                {"channel": "MESSENGER", "identity": "psid-9"}, T, cache=PolicyCache())
    assert again.allowed
    async with any_db.write() as conn:
        [sms] = await evaluate_many(conn, [Candidate("sms:1", PROJECT, "SMS", PHONE, "engagement", "x")],
                                    T + 1000, cache=PolicyCache())
    assert sms.reason == "frequency_cap" and sms.xms_code == 487
    other = await check_attempt(any_db, message("M2", '{"purpose": "engagement"}'),
                                {"channel": "WHATSAPP", "identity": PHONE}, T + 2000, cache=PolicyCache())
    assert other.reason == "frequency_cap"
    assert other.conversation_reason == {"code": "DELIVERY_REJECTED_DUE_TO_POLICY", "sub_code": "FREQUENCY_CAP",
                                         "description": other.description}


async def test_contact_time_zone_defers(any_db: Database) -> None:
    late = NOON  # 12:00 in Paris = 20:00 in Tokyo: quiet under France's 20:00–08:00
    d = await check_attempt(any_db, message("M3", '{"purpose": "engagement"}'),
                            {"channel": "WHATSAPP", "identity": PHONE}, late, cache=PolicyCache())
    assert d.outcome == "defer" and d.reason == "quiet_hours"
    tokyo_eight = dt.datetime(2026, 3, 5, 8, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert d.until_ms == int(tokyo_eight.timestamp() * 1000)
    assert d.conversation_reason["code"] == "OUTSIDE_ALLOWED_SENDING_WINDOW"
