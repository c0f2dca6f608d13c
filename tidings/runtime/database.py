"""Opening the profile's database: SQLite in the data directory, or the configured URL."""

from __future__ import annotations

import os

from tidings.config import Settings
from tidings.store.db import Database, sqlite_url


async def open_database(settings: Settings) -> Database:
    if settings.database_url:
        return Database(settings.database_url)
    os.makedirs(settings.data_dir, exist_ok=True)
    db = Database(sqlite_url(settings.data_dir))
    await db.create_schema()
    return db
