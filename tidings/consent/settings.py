"""Consent settings: the project's rules (opt-out regime countries) and keyword settings, for the
project (sender "") and per sender (a number, short code or alphanumeric sender ID).

Stored as JSON in `consent_settings`:

    project (sender ""):  {"opt_out_countries": ["GB", …], "keywords": <KeywordConfig JSON>}
    a sender:            {"keywords": <KeywordConfig JSON>}

A sender without its own keyword settings uses the project's.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.policy.consent import ConsentRules
from tidings.policy.keywords import KeywordConfig
from tidings.store.consent_schema import consent_settings

__all__ = ["check_settings", "keyword_config", "load_settings", "rules", "save_settings"]

_s = consent_settings.c


def check_settings(body: object, *, project_level: bool) -> dict[str, Any]:
    """The stored JSON for a settings body; ValueError if malformed."""
    if not isinstance(body, dict):
        raise ValueError("settings must be a JSON object")
    allowed = {"keywords", "opt_out_countries"} if project_level else {"keywords"}
    unknown = set(body) - allowed
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    if "keywords" in body:
        out["keywords"] = KeywordConfig.from_json(body["keywords"]).to_json()
    if "opt_out_countries" in body:
        countries = body["opt_out_countries"]
        if not isinstance(countries, list) or not all(
                isinstance(c, str) and len(c) == 2 and c.isalpha() for c in countries):
            raise ValueError("opt_out_countries must be a list of ISO 3166 alpha-2 country codes")
        out["opt_out_countries"] = sorted({c.upper() for c in countries})
    return out


async def load_settings(conn: AsyncConnection, project_id: str, sender: str = "") -> dict[str, Any] | None:
    row = (await conn.execute(select(_s.config).where(
        _s.project_id == project_id, _s.sender == sender))).first()
    return dict(row.config) if row is not None else None


async def save_settings(conn: AsyncConnection, project_id: str, sender: str, config: dict[str, Any],
                        now: int) -> None:
    updated = await conn.execute(consent_settings.update().where(
        _s.project_id == project_id, _s.sender == sender).values(config=config, updated_ms=now))
    if updated.rowcount == 0:
        await conn.execute(consent_settings.insert().values(
            project_id=project_id, sender=sender, config=config, updated_ms=now))


async def rules(conn: AsyncConnection, project_id: str) -> ConsentRules:
    config = await load_settings(conn, project_id) or {}
    return ConsentRules(frozenset(config.get("opt_out_countries") or ()))


async def keyword_config(conn: AsyncConnection, project_id: str, sender: str | None) -> KeywordConfig:
    rows = {r.sender: r.config for r in await conn.execute(select(_s.sender, _s.config).where(
        _s.project_id == project_id, _s.sender.in_(["", sender or ""])))}
    for key in (sender or "", ""):
        config = rows.get(key)
        if config and "keywords" in config:
            return KeywordConfig.from_json(config["keywords"])
    return KeywordConfig()
