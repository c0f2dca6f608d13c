"""Opening the profile's database: SQLite in the data directory, or the configured URL.

The embedded profile migrates its SQLite file to the head revision on every start. The
distributed profile is migrated by `tidings migrate` (once per deployment), so API and worker
processes only check that the database is at head and refuse to start otherwise.
"""

from __future__ import annotations

import os

from tidings.config import Settings
from tidings.store.db import Database, sqlite_url
from tidings.store.migrate import MigrationError, current_revision, head_revision, upgrade


async def open_database(settings: Settings, *, migrate: bool | None = None) -> Database:
    """The profile's database, at the head schema. `migrate` defaults to True for SQLite."""
    if settings.database_url:
        url = settings.database_url
    else:
        os.makedirs(settings.data_dir, exist_ok=True)
        url = sqlite_url(settings.data_dir)
    if migrate if migrate is not None else not settings.database_url:
        await upgrade(url)
    else:
        at = await current_revision(url)
        if at != head_revision():
            raise MigrationError(
                f"the database is at revision {at or 'none'}, this release needs {head_revision()}: "
                "run `tidings migrate` first"
            )
    return Database(url, statement_timeout=settings.database_timeout_seconds)
