"""The ledger on both databases: append-only history, current state, keyword hook, double opt-in."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tidings.actions.projects import do_create_project
from tidings.consent import double_opt_in, ledger, settings
from tidings.consent.identity import check_channel, normalize_identity
from tidings.consent.keywords import handle_inbound_keywords
from tidings.core.calling_codes import country_of
from tidings.policy.consent import ALL, CONSENT_MISSING, CONSENT_OPTED_OUT
from tidings.policy.keywords import KeywordKind
from tidings.store.consent_schema import consent_events, consent_state
from tidings.store.db import Database
from tidings.store.schema import batches, deliveries

NUMBER = "+46701234567"
KEY = b"k" * 32


async def _project(db: Database) -> str:
    return (await do_create_project(db, "p", 1)).project_id


def ev(channel: str, purpose: str, action: str, at: int, source: str = "api") -> ledger.Event:
    return ledger.Event(NUMBER, channel, purpose, action, source, {"request_id": f"r{at}"}, at)


async def test_history_is_append_only_and_state_is_the_latest(any_db: Database) -> None:
    p = await _project(any_db)
    async with any_db.write() as conn:
        first = await ledger.record(conn, p, ev("SMS", "engagement", "opt_in", 100))
        second = await ledger.record(conn, p, ev("SMS", "engagement", "opt_out", 200))
        # evidence older than what is known: kept in the history, does not move the state
        old = await ledger.record(conn, p, ev("SMS", "engagement", "opt_in", 150, "import"))
    assert first < second < old
    async with any_db.read() as conn:
        rows = await ledger.history(conn, p, NUMBER)
        assert [(r.action, r.at_ms, r.source) for r in rows] == [
            ("opt_in", 100, "api"), ("opt_out", 200, "api"), ("opt_in", 150, "import")]
        state = await ledger.state_rows(conn, p, [NUMBER])
        assert [(s.channel, s.purpose, s.action, s.event_id) for s in state] == [
            ("SMS", "engagement", "opt_out", second)]
        decision = await ledger.check_consent(conn, p, NUMBER, "SMS", "engagement")
        assert (decision.allowed, decision.reason_code) == (False, CONSENT_OPTED_OUT)
        assert (await ledger.check_consent(conn, p, NUMBER, "SMS", "information")).allowed
    async with any_db.write() as conn:
        await ledger.record(conn, p, ev("SMS", "engagement", "opt_in", 300))
    async with any_db.read() as conn:
        assert (await ledger.check_consent(conn, p, NUMBER, "SMS", "engagement")).allowed
        assert (await conn.execute(select(func.count()).select_from(consent_events))).scalar_one() == 4
        assert (await conn.execute(select(func.count()).select_from(consent_state))).scalar_one() == 1


async def test_opt_out_regimes_come_from_the_project_settings(any_db: Database) -> None:
    p = await _project(any_db)
    uk = "+447700900123"
    async with any_db.read() as conn:
        d = await ledger.check_consent(conn, p, uk, "SMS", "engagement")
        assert d.reason_code == CONSENT_MISSING
    async with any_db.write() as conn:
        await settings.save_settings(conn, p, "", settings.check_settings(
            {"opt_out_countries": ["gb"]}, project_level=True), 1)
    async with any_db.read() as conn:
        assert (await ledger.check_consent(conn, p, uk, "SMS", "engagement")).allowed
        assert not (await ledger.check_consent(conn, p, NUMBER, "SMS", "engagement")).allowed


async def test_deciding_for_many_identities_at_once_is_deciding_for_each(any_db: Database) -> None:
    """`decide_many` (the send gate's call for a batch) gives what `decide` gives one by one, with
    and without opt-out countries (where the decision for unknown contacts depends on the country)."""
    p = await _project(any_db)
    opted_in, opted_out = "+46701230001", "+46701230002"
    unknown = ["+46701230003", "+447700900123", "+447700900124", "+14155550100"]
    async with any_db.write() as conn:
        await ledger.record(conn, p, ledger.Event(opted_in, "SMS", "engagement", "opt_in", "api", {}, 10))
        await ledger.record(conn, p, ledger.Event(opted_out, "SMS", ALL, "opt_out", "api", {}, 10))
    identities = [unknown[0], opted_in, unknown[1], opted_out, unknown[2], unknown[3]]
    seen: set[tuple[bool, str | None]] = set()
    for countries in ([], ["gb"]):
        async with any_db.write() as conn:
            await settings.save_settings(conn, p, "", settings.check_settings(
                {"opt_out_countries": countries}, project_level=True), 1)
        async with any_db.read() as conn:
            entries = await ledger.entries_for(conn, p, identities)
            for purpose in ("engagement", "information", "security", "system"):
                many = await ledger.decide_many(conn, p, identities, entries, "SMS", purpose)
                each = [await ledger.decide(conn, p, i, entries[i], "SMS", purpose) for i in identities]
                assert [(d.allowed, d.reason_code) for d in many] == [(d.allowed, d.reason_code) for d in each]
                seen |= {(d.allowed, d.reason_code) for d in many}
    assert seen == {(True, None), (False, CONSENT_MISSING), (False, CONSENT_OPTED_OUT)}


async def test_keyword_stop_records_the_opt_out_and_queues_the_confirmation(any_db: Database) -> None:
    p = await _project(any_db)
    async with any_db.write() as conn:
        out = await handle_inbound_keywords(conn, p, "SMS", NUMBER, "+46700000001", "Arrêt", "mo-1", 1000)
    assert out.kind is KeywordKind.OPT_OUT and out.language == "fr" and out.reply_ref
    async with any_db.read() as conn:
        [event] = await ledger.history(conn, p, NUMBER)
        assert (event.channel, event.purpose, event.action, event.source) == ("SMS", ALL, "opt_out", "keyword")
        assert event.proof["message_id"] == "mo-1" and event.proof["text"] == "Arrêt"
        assert event.proof["reply_ref"] == out.reply_ref
        reply = (await conn.execute(select(batches).where(batches.c.id == out.reply_ref))).one()
        assert (reply.sender, reply.purpose) == ("+46700000001", "system")
        assert reply.body.startswith("Vous êtes désinscrit")
        delivery = (await conn.execute(select(deliveries).where(deliveries.c.batch_id == out.reply_ref))).one()
        assert (delivery.recipient, delivery.status, delivery.published_ms) == (NUMBER, "Queued", None)
        assert not (await ledger.check_consent(conn, p, NUMBER, "SMS", "information")).allowed
        assert (await ledger.check_consent(conn, p, NUMBER, "WHATSAPP", "information")).allowed


async def test_help_records_nothing_and_stopall_start(any_db: Database) -> None:
    p = await _project(any_db)
    async with any_db.write() as conn:
        helped = await handle_inbound_keywords(conn, p, "SMS", NUMBER, "+46700000001", "HELP", "m1", 1)
        none = await handle_inbound_keywords(conn, p, "SMS", NUMBER, "+46700000001", "hello there", "m2", 2)
        stopall = await handle_inbound_keywords(conn, p, "SMS", NUMBER, "+46700000001", "STOPALL", "m3", 3)
    assert helped.kind is KeywordKind.HELP and helped.event_ids == [] and helped.reply_ref
    assert not none.matched and none.reply_ref is None
    async with any_db.read() as conn:
        assert not (await ledger.check_consent(conn, p, NUMBER, "WHATSAPP", "security")).allowed
    async with any_db.write() as conn:
        await handle_inbound_keywords(conn, p, "SMS", NUMBER, "+46700000001", "start", "m4", 4)
    async with any_db.read() as conn:
        assert (await ledger.check_consent(conn, p, NUMBER, "SMS", "engagement")).allowed
        assert not (await ledger.check_consent(conn, p, NUMBER, "WHATSAPP", "information")).allowed
    assert stopall.event_ids


async def test_per_sender_keywords(any_db: Database) -> None:
    p = await _project(any_db)
    async with any_db.write() as conn:
        await settings.save_settings(conn, p, "ACME", settings.check_settings(
            {"keywords": {"extra": {"opt_out": ["NO MORE"]}, "removed": ["STOP"],
                          "replies": {"opt_out": "Acme: bye."}}}, project_level=False), 1)
        ignored = await handle_inbound_keywords(conn, p, "SMS", NUMBER, "ACME", "STOP", "m1", 2)
        other_sender = await handle_inbound_keywords(conn, p, "SMS", NUMBER, "OTHER", "STOP", "m2", 3)
        custom = await handle_inbound_keywords(conn, p, "SMS", NUMBER, "ACME", "no more", "m3", 4)
    assert not ignored.matched
    assert other_sender.kind is KeywordKind.OPT_OUT
    assert custom.kind is KeywordKind.OPT_OUT and custom.reply_text == "Acme: bye."


async def test_double_opt_in_by_reply_and_by_link(any_db: Database) -> None:
    p = await _project(any_db)
    async with any_db.write() as conn:
        started = await double_opt_in.start(
            conn, KEY, p, identity=NUMBER, channel="SMS", purposes=["engagement"], method="reply",
            sender="+46700000001", service_plan_id=None, link_base="http://x", text=None,
            expires_in_s=60, proof={"request_id": "req-1"}, now=1000)
    assert started.request_ref
    async with any_db.read() as conn:
        assert not (await ledger.check_consent(conn, p, NUMBER, "SMS", "engagement")).allowed
        request = (await conn.execute(select(batches).where(batches.c.id == started.request_ref))).one()
        assert "Reply YES" in request.body
    async with any_db.write() as conn:
        out = await handle_inbound_keywords(conn, p, "SMS", NUMBER, "+46700000001", "yes", "mo-9", 2000)
    assert out.confirmation_id == started.id and out.reply_text and "confirmed" in out.reply_text
    async with any_db.read() as conn:
        assert (await ledger.check_consent(conn, p, NUMBER, "SMS", "engagement")).allowed
        [event] = await ledger.history(conn, p, NUMBER)
        assert event.source == "double_opt_in" and event.purpose == "engagement"
        assert event.proof["confirmation_id"] == started.id and event.proof["message_id"] == "mo-9"
        assert event.proof["request"] == {"request_id": "req-1"}

    other = "+46701234568"
    async with any_db.write() as conn:
        link = await double_opt_in.start(
            conn, KEY, p, identity=other, channel="SMS", purposes=["engagement", "satisfaction"],
            method="link", sender=None, service_plan_id=None, link_base="http://x", text=None,
            expires_in_s=60, proof={}, now=1000)
    async with any_db.write() as conn:
        assert await double_opt_in.find_by_token(conn, KEY, link.token + "x") is None
        assert await double_opt_in.find_by_token(conn, b"other" * 8, link.token) is None
        row = await double_opt_in.find_by_token(conn, KEY, link.token)
        done = await double_opt_in.confirm(conn, row, by="link", evidence={"ip": "127.0.0.1"}, now=3000)
        again = await double_opt_in.confirm(conn, row, by="link", evidence={"ip": "127.0.0.1"}, now=3001)
    assert done.state == "confirmed" and len(done.event_ids) == 2
    assert again.state == "already_confirmed" and again.event_ids == []

    async with any_db.write() as conn:
        late = await double_opt_in.start(
            conn, KEY, p, identity="+46701234569", channel="SMS", purposes=["engagement"],
            method="link", sender=None, service_plan_id=None, link_base="http://x", text=None,
            expires_in_s=1, proof={}, now=1000)
    async with any_db.write() as conn:
        row = await double_opt_in.find_by_token(conn, KEY, late.token)
        expired = await double_opt_in.confirm(conn, row, by="link", evidence={}, now=5000)
    assert expired.state == "expired" and expired.event_ids == []
    async with any_db.read() as conn:
        assert not (await ledger.check_consent(conn, p, "+46701234569", "SMS", "engagement")).allowed


def test_identities_and_channels() -> None:
    assert normalize_identity("0046 70 123 45 67") == NUMBER
    assert normalize_identity("46701234567") == NUMBER
    assert normalize_identity("Bob@Example.COM") == "bob@example.com"
    assert normalize_identity("psid-123") == "psid-123"
    with pytest.raises(ValueError):
        normalize_identity("+999")
    with pytest.raises(ValueError):
        normalize_identity("")
    assert check_channel("whatsapp") == "WHATSAPP" and check_channel("*") == "*"
    with pytest.raises(ValueError):
        check_channel("*", allow_all=False)
    assert country_of(NUMBER) == "SE" and country_of("x@y.z") is None
