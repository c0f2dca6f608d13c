"""The gate against a real database, both profiles: caps across channels, security exempt,
collapse, quiet hours, consent first, idempotent counting, one ledger read per batch."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, insert, select

from tidings.consent import ledger
from tidings.policy.gate import Candidate, PolicyCache, evaluate, evaluate_many
from tidings.store.db import Database
from tidings.store.policy_schema import policy_decisions, policy_sends
from tidings.store.queries.policy import upsert_settings
from tidings.store.schema import projects

PROJECT = "p1"
PHONE = "+33612345678"
PARIS = ZoneInfo("Europe/Paris")
# A Wednesday at noon in Paris: outside every default curfew.
NOON = int(dt.datetime(2026, 3, 4, 12, 0, tzinfo=PARIS).timestamp() * 1000)
NIGHT = int(dt.datetime(2026, 3, 4, 23, 0, tzinfo=PARIS).timestamp() * 1000)


@pytest.fixture(autouse=True)
async def project(any_db: Database) -> None:
    async with any_db.write() as conn:
        await conn.execute(insert(projects).values(id=PROJECT, name="policy", webhook_secret="s", created_ms=NOON))


def msg(ref: str, purpose: str = "engagement", channel: str = "SMS", identity: str = PHONE,
        body: str = "Spring sale", **kw: object) -> Candidate:
    return Candidate(ref, PROJECT, channel, identity, purpose, body, **kw)  # type: ignore[arg-type]


async def opt_in(db: Database, *identities: str) -> None:
    async with db.write() as conn:
        for identity in identities:
            await ledger.record(conn, PROJECT, ledger.Event(identity, "*", "engagement", "opt_in", "api",
                                                            {"request_id": "t"}, NOON - 86_400_000))


async def run(db: Database, candidates: list[Candidate], now: int = NOON) -> list[str]:
    async with db.write() as conn:
        decisions = await evaluate_many(conn, candidates, now, cache=PolicyCache())
    return [d.outcome if d.allowed else f"{d.outcome}:{d.reason}" for d in decisions]


async def test_engagement_capped_across_sms_and_whatsapp(any_db: Database) -> None:
    await opt_in(any_db, PHONE)
    assert await run(any_db, [msg("sms:1")]) == ["allow"]
    # WhatsApp to the same number is the same contact.
    assert await run(any_db, [msg("conv:a", channel="WHATSAPP")]) == ["reject:frequency_cap"]
    # A day later one more goes; by the fourth day the week's cap (3) is reached.
    day = 24 * 3600 * 1000
    assert await run(any_db, [msg("conv:b", channel="WHATSAPP")], NOON + day) == ["allow"]
    assert await run(any_db, [msg("sms:2")], NOON + 2 * day) == ["allow"]
    assert await run(any_db, [msg("sms:3")], NOON + 3 * day) == ["reject:frequency_cap"]
    assert await run(any_db, [msg("sms:4", purpose="security")], NOON + 3 * day) == ["allow"]
    async with any_db.read() as conn:
        reasons = (await conn.execute(select(policy_decisions.c.ref, policy_decisions.c.reason)
                                      .order_by(policy_decisions.c.id))).all()
    assert [tuple(r) for r in reasons] == [("conv:a", "frequency_cap"), ("sms:3", "frequency_cap")]


async def test_contact_keys_join_other_channels(any_db: Database) -> None:
    await opt_in(any_db, PHONE, "psid-1", "+33699999999")
    # A Messenger message to a contact whose phone is known counts against that phone.
    assert await run(any_db, [msg("conv:m", channel="MESSENGER", identity="psid-1",
                                  contact_keys=(PHONE, "contact:C1"))]) == ["allow"]
    assert await run(any_db, [msg("sms:1")]) == ["reject:frequency_cap"]
    assert await run(any_db, [msg("sms:2", identity="+33699999999")]) == ["allow"]


async def test_within_one_batch_and_counted_once(any_db: Database) -> None:
    await opt_in(any_db, PHONE)
    batch = [msg("sms:1"), msg("sms:2"), msg("sms:3", purpose="security")]
    assert await run(any_db, batch) == ["allow", "reject:frequency_cap", "allow"]
    # The same message judged again (a retry after a lost lease) is not counted twice.
    assert await run(any_db, [msg("sms:1")]) == ["allow"]
    async with any_db.read() as conn:
        count = (await conn.execute(select(func.count()).select_from(policy_sends))).scalar()
    assert count == 1


async def test_collapse_identical_information(any_db: Database) -> None:
    plain = [msg(f"sms:p{i}", purpose="information", body="Same text") for i in range(2)]
    assert await run(any_db, plain) == ["allow", "allow"]  # off unless the project asks
    async with any_db.write() as conn:
        await upsert_settings(conn, PROJECT, {"collapse_identical_bodies": True}, NOON)
    info = [msg(f"sms:{i}", purpose="information", body="Your code of conduct changed") for i in range(3)]
    assert await run(any_db, info) == ["allow", "reject:collapsed", "reject:collapsed"]
    assert await run(any_db, [msg("sms:9", purpose="information", body="Other news")]) == ["allow"]
    keyed = [msg("sms:k1", purpose="information", body="Order shipped (1/2)", collapse_key="order-7"),
             msg("sms:k2", purpose="information", body="Order shipped (2/2)", collapse_key="order-7")]
    assert await run(any_db, keyed) == ["allow", "reject:collapsed"]
    # After the window (default one hour) the same text goes again.
    assert await run(any_db, [msg("sms:10", purpose="information", body="Your code of conduct changed")],
                     NOON + 3600 * 1000 + 1) == ["allow"]
    async with any_db.write() as conn:
        await upsert_settings(conn, PROJECT, {"collapse_identical_bodies": True,
                                              "collapse_window_seconds": 0}, NOON)
    assert await run(any_db, [msg("sms:11", purpose="information", body="Other news")]) == ["allow"]
    assert await run(any_db, [msg("sms:12", purpose="information", body="x", collapse_key="order-7")]) == ["allow"]


async def test_quiet_hours_defer_engagement_not_security(any_db: Database) -> None:
    await opt_in(any_db, PHONE)
    out = []
    async with any_db.write() as conn:
        for c in (msg("sms:1"), msg("sms:2", purpose="security"), msg("sms:3", purpose="information")):
            out.append(await evaluate(conn, None, PROJECT, c.channel, c.identity, c.purpose, c.body,
                                      NIGHT, ref=c.ref, cache=PolicyCache()))
    assert out[0].outcome == "defer" and out[0].reason == "quiet_hours" and out[0].xms_code == 489
    assert out[0].until_ms == int(dt.datetime(2026, 3, 5, 8, 0, tzinfo=PARIS).timestamp() * 1000)
    assert out[1].allowed and out[2].allowed
    # A deferred message is not counted: at 08:00 it goes.
    assert await run(any_db, [msg("sms:1")], out[0].until_ms) == ["allow"]  # type: ignore[list-item]
    # Information deferred too when the project says so; a contact's own time zone wins.
    async with any_db.write() as conn:
        await upsert_settings(conn, PROJECT, {"quiet_hours": {"purposes": ["engagement", "information"]}}, NOON)
    assert await run(any_db, [msg("sms:4", purpose="information", body="x")], NIGHT) == ["defer:quiet_hours"]
    assert await run(any_db, [msg("sms:5", purpose="information", body="y", time_zone="Asia/Tokyo")],
                     NOON) == ["defer:quiet_hours"]  # 20:00 in Tokyo


async def test_consent_comes_first(any_db: Database) -> None:
    async with any_db.write() as conn:
        await ledger.record(conn, PROJECT, ledger.Event(PHONE, "*", "*", "opt_out", "keyword",
                                                        {"text": "STOP"}, NOON - 1000))
    assert await run(any_db, [msg("sms:1"), msg("sms:2", purpose="information", body="hi")]) == [
        "reject:consent_opted_out", "reject:consent_opted_out"]
    async with any_db.write() as conn:
        d = await evaluate(conn, None, PROJECT, "SMS", PHONE, "engagement", "x", NOON, ref="sms:3")
    assert d.xms_code == 485 and d.conversation_reason["code"] == "RECIPIENT_NOT_OPTED_IN"


async def test_one_ledger_read_for_a_batch(any_db: Database) -> None:
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(any_db.sync_engine, "before_cursor_execute", count)
    try:
        batch = [msg(f"sms:{i}", identity=f"+3361234{i:04d}", purpose="information", body="b",
                     collapse_key="k") for i in range(200)]
        assert set(await run(any_db, batch)) == {"allow"}
    finally:
        event.remove(any_db.sync_engine, "before_cursor_execute", count)
    reads = [s for s in statements if "FROM policy_sends" in s]
    assert len(reads) == 1, statements
    assert len([s for s in statements if "consent_state" in s]) == 1


PHISHING = ("URGENT: your PayPal account is suspended. Verify your password and card number now at "
            "http://paypa1-account-secure.com/login or lose access today")


async def test_binary_data_skips_content_safety_and_nothing_else(any_db: Database) -> None:
    """An mt_binary batch's `body` is data, not text: content safety does not read it; caps,
    collapse and consent apply as to text."""
    info = {"purpose": "information"}
    assert await run(any_db, [msg("sms:t", body=PHISHING, **info)]) == ["reject:phishing_suspected"]
    assert await run(any_db, [msg("sms:b", body=PHISHING, binary=True, **info)]) == ["allow"]
    async with any_db.write() as conn:
        await upsert_settings(conn, PROJECT, {"collapse_identical_bodies": True}, NOON)
    same = [msg(f"sms:c{i}", body="06050415811581:AAE=", binary=True, **info) for i in range(2)]
    assert await run(any_db, same) == ["allow", "reject:collapsed"]
    async with any_db.write() as conn:
        await ledger.record(conn, PROJECT, ledger.Event(PHONE, "*", "*", "opt_out", "keyword",
                                                        {"text": "STOP"}, NOON - 1000))
    assert await run(any_db, [msg("sms:o", body="AAE=", binary=True, **info)]) == ["reject:consent_opted_out"]
