"""Project send-policy settings: validated and stored (docs/subsystems/policy.md#settings)."""

from __future__ import annotations

from typing import Any

from tidings.core.errors import RequestError
from tidings.policy.gate import shared_cache
from tidings.policy.settings import PolicySettings, parse_settings, settings_json
from tidings.store.db import Database
from tidings.store.queries import policy as pq

__all__ = ["check_policy", "do_put_policy", "get_policy"]


def check_policy(payload: object) -> PolicySettings:
    try:
        return parse_settings(payload)
    except ValueError as exc:
        field = str(exc).split(":", 1)[0]
        raise RequestError("syntax_constraint_violation", str(exc), 400, {field: str(exc)}) from exc


async def get_policy(db: Database, project_id: str) -> PolicySettings:
    async with db.read() as conn:
        raw = (await pq.settings_of(conn, [project_id])).get(project_id)
    try:
        return parse_settings(raw)
    except ValueError:
        return PolicySettings()


async def do_put_policy(db: Database, project_id: str, payload: object, now: int) -> dict[str, Any]:
    """Replace the project's settings (what the body leaves out takes its default)."""
    shown = settings_json(check_policy(payload))
    async with db.write() as conn:
        await pq.upsert_settings(conn, project_id, shown, now)
    shared_cache().forget(project_id)
    return shown
