"""Exports of the ledger's history for audits: CSV or JSON, per contact or per project, streamed
page by page (each page its own short read) so a project's whole history never sits in memory.

Columns / keys: event_id, identity, channel, purpose, action, source, at (ISO-8601 UTC), at_ms,
proof (JSON). JSON is one array of objects; CSV has a header row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import orjson

from tidings.consent import ledger
from tidings.store.db import Database
from tidings.webhooks.sms_events import iso_timestamp

__all__ = ["COLUMNS", "export_rows", "stream_csv", "stream_json"]

COLUMNS = ("event_id", "identity", "channel", "purpose", "action", "source", "at", "at_ms", "proof")
PAGE = 1000


def _record(row: Any) -> dict[str, Any]:
    return {"event_id": row.id, "identity": row.identity, "channel": row.channel, "purpose": row.purpose,
            "action": row.action, "source": row.source, "at": iso_timestamp(row.at_ms),
            "at_ms": row.at_ms, "proof": row.proof}


async def export_rows(db: Database, project_id: str, identity: str | None) -> AsyncIterator[list[dict[str, Any]]]:
    after = 0
    while True:
        async with db.read() as conn:
            rows = await ledger.history(conn, project_id, identity, after_id=after, limit=PAGE)
        if not rows:
            return
        yield [_record(r) for r in rows]
        if len(rows) < PAGE:
            return
        after = rows[-1].id


async def stream_json(db: Database, project_id: str, identity: str | None) -> AsyncIterator[bytes]:
    yield b"["
    first = True
    async for page in export_rows(db, project_id, identity):
        for record in page:
            yield (b"" if first else b",") + orjson.dumps(record)
            first = False
    yield b"]"


async def stream_csv(db: Database, project_id: str, identity: str | None) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    yield buffer.getvalue().encode()
    async for page in export_rows(db, project_id, identity):
        buffer.seek(0)
        buffer.truncate()
        for r in page:
            writer.writerow([*(r[c] for c in COLUMNS[:-1]), orjson.dumps(r["proof"]).decode()])
        yield buffer.getvalue().encode()
