"""The purpose of SMPP gateway submissions per service plan (the project's policy settings,
`smpp.purposes`; information by default): an engagement plan's submissions meet the engagement
rules — refused without opt-in — while information goes through."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import select

from tidings.smpp.constants import CommandStatus
from tidings.store.schema import batches
from tidings.testing.platform import Platform

from ..pipeline.helpers import handset_messages, wait_status
from ..pipeline.test_policy_sms import put_policy
from .esme import Esme

EsmeFactory = Callable[..., Awaitable[Esme]]


async def _purpose(platform: Platform, batch_id: str) -> str | None:
    async with platform.ctx.db.read() as conn:
        return (await conn.execute(select(batches.c.purpose).where(batches.c.id == batch_id))).scalar_one()


async def test_submissions_take_the_service_plans_purpose(
    platform: Platform, esmes: EsmeFactory, http: httpx.AsyncClient,
) -> None:
    await put_policy(platform, http, {"quiet_hours": {"enabled": False}})
    esme = await esmes()
    [info] = await esme.submit("Your parcel is out for delivery", to="46701170001")
    assert info.status == CommandStatus.ESME_ROK
    await wait_status(platform, http, info.message_id, "+46701170001", "Delivered")
    assert await _purpose(platform, info.message_id) == "information"

    plan = platform.creds.service_plan_id
    shown = await put_policy(platform, http, {"quiet_hours": {"enabled": False},
                                              "smpp": {"purposes": {plan: "engagement"}}})
    assert shown["smpp"] == {"purposes": {plan: "engagement"}}
    [promo] = await esme.submit("Spring sale: 20% off", to="46701170002")
    assert promo.status == CommandStatus.ESME_ROK
    assert await _purpose(platform, promo.message_id) == "engagement"
    report = await wait_status(platform, http, promo.message_id, "+46701170002", "Rejected")
    assert report["code"] == 486  # engagement needs opt-in
    assert await handset_messages(platform, http, "+46701170002") == []
