"""A new SMS verification is one write: its row is committed with the code's batch, in one
group-commit unit of the priority lane; a reference conflict rolls both back; the batch expires
with the code."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from tidings.store import schema
from tidings.store.verify_schema import verifications
from tidings.testing.platform import Platform

from ...pipeline.conftest import http  # noqa: F401
from .helpers import VerifyClient, sms_code


async def _batches(platform: Platform) -> int:
    async with platform.ctx.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(schema.batches))).scalar_one())


async def test_an_sms_start_is_one_unit_with_its_batch_and_a_conflict_sends_nothing(
    vplatform: Platform, http: httpx.AsyncClient  # noqa: F811
) -> None:
    client = VerifyClient(http, vplatform.base_url, vplatform.creds, vplatform.ctx.clock)
    committer: Any = vplatform.ctx.committer
    units, batches_before = committer.units, await _batches(vplatform)

    response = await client.start("+46735550101", "sms", reference="ref-1")
    assert response.status_code == 200, response.text
    vid = response.json()["id"]
    assert committer.units == units + 1  # the verification row rode in the batch's unit
    async with vplatform.ctx.db.read() as conn:
        row = (await conn.execute(select(verifications).where(verifications.c.id == vid))).one()
    assert row.status == "PENDING" and row.sent_ref is not None
    assert len(await sms_code(vplatform.ctx.db, vid)) > 0
    assert await _batches(vplatform) == batches_before + 1

    again = await client.start("+46735550102", "sms", reference="ref-1")
    assert again.status_code == 409, again.text
    assert await _batches(vplatform) == batches_before + 1  # the code's batch was rolled back with it


async def test_the_code_s_batch_expires_with_the_code(vplatform: Platform, http: httpx.AsyncClient) -> None:  # noqa: F811
    """Queued or at the carrier (its submit_sm's validity_period), a code is not delivered after it
    stops being accepted."""
    client = VerifyClient(http, vplatform.base_url, vplatform.creds, vplatform.ctx.clock)
    response = await client.start("+46735550103", "sms", smsOptions={"expiry": "00:02:00"})
    assert response.status_code == 200, response.text
    async with vplatform.ctx.db.read() as conn:
        row = (await conn.execute(select(verifications).where(verifications.c.id == response.json()["id"]))).one()
        expire_at_ms = (await conn.execute(select(schema.batches.c.expire_at_ms)
                                           .where(schema.batches.c.id == row.sent_ref))).scalar_one()
    assert row.expires_ms == row.created_ms + 120_000
    assert expire_at_ms == row.expires_ms
