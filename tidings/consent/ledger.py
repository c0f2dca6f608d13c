"""The consent ledger: an append-only history of opt-ins and opt-outs, and the current state.

`record` appends one event and, in the same transaction, moves the key's row in `consent_state`
to it — unless that row already holds a later event (an import of old evidence never overrides a
newer keyword). Nothing ever updates or deletes an event. `entries_for` reads the current state of
contacts; `check_consent` is the decision every send path calls (`tidings.policy.consent.may_send`
on the ledger's state).

Sources and their proof (JSON, stored as given plus what the ledger adds):

    api            {"request_id", "ip", …}        a call to the consent API
    keyword        {"message_id", "text", "sender", "reply_ref"}   an inbound STOP/START/…
    double_opt_in  {"confirmation_id", "by": "reply"|"link", "message_id"|"ip", …}
    import         {"file_sha256", "evidence", …}  a bulk import with its evidence
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.consent import settings
from tidings.core.calling_codes import country_of
from tidings.policy.consent import ALL, CONSENT_MISSING, ConsentEntry, ConsentRules, Decision, may_send
from tidings.store.consent_schema import consent_events, consent_state

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert

__all__ = ["ACTIONS", "SOURCES", "Event", "check_consent", "entries_for", "record", "state_rows"]

ACTIONS = ("opt_in", "opt_out")
SOURCES = ("api", "keyword", "double_opt_in", "import")

_e = consent_events.c
_s = consent_state.c
# Built once: every send's policy check reads the ledger.
_STATE_ROWS = select(consent_state).where(
    _s.project_id == bindparam("project_id_"), _s.identity.in_(bindparam("identities_", expanding=True))
).order_by(_s.identity, _s.channel, _s.purpose)


@dataclass(frozen=True)
class Event:
    identity: str
    channel: str
    purpose: str
    action: str
    source: str
    proof: dict[str, Any]
    at_ms: int


async def record(conn: AsyncConnection, project_id: str, event: Event) -> int:
    """Append `event` and bring the key's current state up to date; returns the event id."""
    if event.action not in ACTIONS or event.source not in SOURCES:
        raise ValueError(f"bad consent event {event.action}/{event.source}")
    result = await conn.execute(insert(consent_events).values(
        project_id=project_id, identity=event.identity, channel=event.channel,
        purpose=event.purpose, action=event.action, source=event.source, proof=event.proof,
        at_ms=event.at_ms).returning(_e.id))
    event_id = int(result.scalar_one())
    values = {"project_id": project_id, "identity": event.identity, "channel": event.channel,
              "purpose": event.purpose, "action": event.action, "event_id": event_id,
              "at_ms": event.at_ms}
    stmt: PostgresInsert | SqliteInsert
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgres_insert
        stmt = postgres_insert(consent_state).values(**values)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert
        stmt = sqlite_insert(consent_state).values(**values)
    newer = or_(_s.at_ms < stmt.excluded.at_ms,
                and_(_s.at_ms == stmt.excluded.at_ms, _s.event_id < stmt.excluded.event_id))
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=[_s.project_id, _s.identity, _s.channel, _s.purpose],
        set_={"action": stmt.excluded.action, "event_id": stmt.excluded.event_id,
              "at_ms": stmt.excluded.at_ms},
        where=newer))
    return event_id


async def state_rows(conn: AsyncConnection, project_id: str, identities: Sequence[str]) -> list[Any]:
    if not identities:
        return []
    return list(await conn.execute(_STATE_ROWS, {"project_id_": project_id, "identities_": list(identities)}))


def entry(row: Any) -> ConsentEntry:
    return ConsentEntry(row.channel, row.purpose, row.action == "opt_in", row.at_ms, row.event_id)


async def entries_for(conn: AsyncConnection, project_id: str,
                      identities: Iterable[str]) -> dict[str, list[ConsentEntry]]:
    """Current ledger entries of each identity (an identity never seen maps to [])."""
    wanted = list(dict.fromkeys(identities))
    out: dict[str, list[ConsentEntry]] = {i: [] for i in wanted}
    for start in range(0, len(wanted), 500):
        for row in await state_rows(conn, project_id, wanted[start:start + 500]):
            out[row.identity].append(entry(row))
    return out


async def check_consent(conn: AsyncConnection, project_id: str, identity: str, channel: str,
                        purpose: str, *, country: str | None = None,
                        rules: ConsentRules | None = None) -> Decision:
    """May a message of `purpose` go to `identity` on `channel` now? (`may_send` on the ledger.)"""
    entries = (await entries_for(conn, project_id, [identity]))[identity]
    return await decide(conn, project_id, identity, entries, channel, purpose, country=country, rules=rules)


async def decide(conn: AsyncConnection, project_id: str, identity: str, entries: list[ConsentEntry],
                 channel: str, purpose: str, *, country: str | None = None,
                 rules: ConsentRules | None = None) -> Decision:
    """`may_send` for entries already loaded; reads the project's rules only when they matter."""
    decision = may_send(entries, purpose, country, channel=channel, rules=ConsentRules())
    if decision.allowed or decision.reason_code != "consent_missing":
        return decision
    if rules is None:
        rules = await settings.rules(conn, project_id)
    if not rules.opt_out_countries:
        return decision
    return may_send(entries, purpose, country or country_of(identity), channel=channel, rules=rules)


async def decide_many(conn: AsyncConnection, project_id: str, identities: Sequence[str],
                      entries: Mapping[str, list[ConsentEntry]], channel: str, purpose: str) -> list[Decision]:
    """`decide` for each of `identities` (one project, channel and purpose: a batch's recipients)
    with `entries` as `entries_for` loaded them. The many with no entries at all share one
    decision, unless the project's opt-out countries make it depend on each one's country."""
    first = may_send([], purpose, None, channel=channel, rules=ConsentRules())
    unknown: Decision | None = first
    rules: ConsentRules | None = None
    if not first.allowed and first.reason_code == CONSENT_MISSING:
        rules = await settings.rules(conn, project_id)
        if rules.opt_out_countries:
            unknown = None  # an opt-out country lets engagement go: it depends on the number
    out: list[Decision] = []
    for identity in identities:
        state = entries.get(identity)
        if not state and unknown is not None:
            out.append(unknown)
        else:
            out.append(await decide(conn, project_id, identity, state or [], channel, purpose, rules=rules))
    return out


async def history(conn: AsyncConnection, project_id: str, identity: str | None = None,
                  *, after_id: int = 0, limit: int = 1000) -> list[Any]:
    """Events in id order (the order they were recorded), of one identity or of the project."""
    query = select(consent_events).where(_e.project_id == project_id, _e.id > after_id)
    if identity is not None:
        query = query.where(_e.identity == identity)
    return list(await conn.execute(query.order_by(_e.id).limit(limit)))


async def listed(conn: AsyncConnection, project_id: str, purpose: str, *, after: str = "",
                 limit: int = 50) -> list[str]:
    """Identities whose current state opts them out of `purpose` (on some channel), in order."""
    query = (select(_s.identity).where(
        _s.project_id == project_id, _s.purpose == purpose, _s.action == "opt_out",
        _s.identity > after).group_by(_s.identity).order_by(_s.identity).limit(limit))
    return [r.identity for r in await conn.execute(query)]


__all__ += ["ALL", "decide", "decide_many", "entry", "history", "listed"]
