"""The sender ID registry's writes: put and delete a project's senders, set its sender policy."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from tidings.actions import batch_checks
from tidings.core.errors import RequestError
from tidings.core.ids import ulid
from tidings.policy.sender_ids import KINDS, MODES, STATUSES, kind_of
from tidings.store.db import Database
from tidings.store.routing_schema import sender_policies, sender_registrations, senders

__all__ = ["check_policy", "check_sender", "do_delete_sender", "do_put_sender", "do_set_policy"]

MAX_ADDRESS = 32


def _invalid(field: str, text: str) -> RequestError:
    return RequestError("syntax_constraint_violation", f"{field}: {text}", 400, {field: text})


def _country(value: object, field: str) -> str:
    if not isinstance(value, str) or len(value) != 2 or not value.isalpha() or not value.isascii():  # noqa: PLR2004
        raise _invalid(field, "is an ISO 3166 alpha-2 country code")
    return value.upper()


def check_sender(address: str, body: Any) -> tuple[str, dict[str, tuple[str, str | None]]]:
    """(kind, {country: (status, reference)}) from a sender's JSON; raises RequestError."""
    if not address or len(address) > MAX_ADDRESS or any(c.isspace() and c != " " for c in address):
        raise _invalid("address", f"is 1 to {MAX_ADDRESS} characters")
    if not isinstance(body, dict):
        raise _invalid("body", "is a JSON object")
    kind = body.get("kind", kind_of(address))
    if kind not in KINDS:
        raise _invalid("kind", f"is one of {', '.join(KINDS)}")
    raw = body.get("registrations", {})
    if not isinstance(raw, dict):
        raise _invalid("registrations", "is an object of country code -> {status, reference}")
    registrations: dict[str, tuple[str, str | None]] = {}
    for country, reg in raw.items():
        code = _country(country, "registrations")
        if isinstance(reg, str):
            reg = {"status": reg}
        if not isinstance(reg, dict) or reg.get("status") not in STATUSES:
            raise _invalid(f"registrations.{code}.status", f"is one of {', '.join(STATUSES)}")
        reference = reg.get("reference")
        if reference is not None and (not isinstance(reference, str) or len(reference) > 200):  # noqa: PLR2004
            raise _invalid(f"registrations.{code}.reference", "is a string of at most 200 characters")
        registrations[code] = (reg["status"], reference)
    return kind, registrations


def check_policy(body: Any) -> tuple[str, dict[str, str]]:
    if not isinstance(body, dict) or body.get("mode") not in MODES:
        raise _invalid("mode", f"is one of {', '.join(MODES)}")
    defaults = body.get("defaults", {})
    if not isinstance(defaults, dict):
        raise _invalid("defaults", "is an object of country code -> sender")
    checked = {}
    for key, value in defaults.items():
        country = _country(key, "defaults")
        checked[country] = _default_sender(country, value)
    return body["mode"], checked


def _default_sender(country: str, value: object) -> str:
    """A default sender goes out as a batch's `from` would, so it is held to the same rules (an
    alphanumeric one of at most 11 characters, a number of at most 15 digits): one longer than
    an SMSC takes could never be sent."""
    try:
        return batch_checks.check_sender(value)
    except RequestError as exc:
        raise _invalid(f"defaults.{country}", exc.fields.get("from", exc.text)) from exc


async def do_put_sender(db: Database, project_id: str, address: str, kind: str,
                        registrations: dict[str, tuple[str, str | None]], now: int) -> bool:
    """Create or replace the sender (its registrations replaced too); True when created."""
    s, r = senders, sender_registrations
    async with db.write() as conn:
        row = (await conn.execute(select(s.c.id).where(s.c.project_id == project_id, s.c.address == address))).first()
        created = row is None
        sender_id = ulid() if row is None else row.id
        if created:
            await conn.execute(insert(s).values(id=sender_id, project_id=project_id, address=address, kind=kind,
                                                created_ms=now, modified_ms=now))
        else:
            await conn.execute(update(s).where(s.c.id == sender_id).values(kind=kind, modified_ms=now))
            await conn.execute(delete(r).where(r.c.sender_id == sender_id))
        if registrations:
            await conn.execute(insert(r), [
                {"sender_id": sender_id, "country": c, "status": st, "reference": ref, "updated_ms": now}
                for c, (st, ref) in registrations.items()
            ])
    return created


async def do_delete_sender(db: Database, project_id: str, address: str) -> bool:
    s, r = senders, sender_registrations
    async with db.write() as conn:
        row = (await conn.execute(select(s.c.id).where(s.c.project_id == project_id, s.c.address == address))).first()
        if row is None:
            return False
        await conn.execute(delete(r).where(r.c.sender_id == row.id))
        await conn.execute(delete(s).where(s.c.id == row.id))
    return True


async def do_set_policy(db: Database, project_id: str, mode: str, defaults: dict[str, str], now: int) -> None:
    p = sender_policies
    async with db.write() as conn:
        await conn.execute(delete(p).where(p.c.project_id == project_id))
        await conn.execute(insert(p).values(project_id=project_id, mode=mode, defaults=defaults, updated_ms=now))
