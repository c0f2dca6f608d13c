"""Which app an SMS reply (MO) to a conversation sender number goes to."""

from __future__ import annotations

from sqlalchemy import select

from tidings.actions.projects import do_create_project
from tidings.channels.sms_conversation.status import record_mos
from tidings.store.conversation_schema import conv_apps, conv_channel_events
from tidings.store.db import Database
from tidings.store.schema import numbers
from tidings.workers.events import MobileOriginated

NOW = 1_800_000_000_000
NUMBER = "+46700000099"


def _app(app_id: str, project_id: str, created_ms: int) -> dict[str, object]:
    return {"id": app_id, "project_id": project_id, "display_name": app_id,
            "channel_credentials": [{"channel": "SMS", "static_bearer": {
                "claimed_identity": "plan", "token": "t", "sender": NUMBER}}],
            "conversation_metadata_report_view": "NONE", "processing_mode": "CONVERSATION",
            "settings": {}, "created_ms": created_ms}


async def _inbound_apps(db: Database) -> list[str]:
    mo = MobileOriginated("c1", "smsc-1", "46705555555", NUMBER.lstrip("+"), "hello", NOW)
    async with db.write() as conn:
        await record_mos(conn, [mo], NOW)
    async with db.read() as conn:
        rows = (await conn.execute(select(conv_channel_events.c.body))).scalars().all()
    return [row["app_id"] for row in rows]


async def test_mo_goes_to_the_app_of_the_project_owning_the_number(any_db: Database) -> None:
    squatter = await do_create_project(any_db, "other", NOW)
    owner = await do_create_project(any_db, "owner", NOW)
    async with any_db.write() as conn:
        # The other project's app names the same sender, and is older.
        await conn.execute(conv_apps.insert(), [_app("app-other", squatter.project_id, NOW - 10),
                                                _app("app-owner", owner.project_id, NOW)])
        await conn.execute(numbers.insert().values(number=NUMBER, project_id=owner.project_id))
    assert await _inbound_apps(any_db) == ["app-owner"]


async def test_mo_to_a_number_of_a_project_without_such_an_app_reaches_no_other_project(any_db: Database) -> None:
    squatter = await do_create_project(any_db, "other", NOW)
    owner = await do_create_project(any_db, "owner", NOW)
    async with any_db.write() as conn:
        await conn.execute(conv_apps.insert(), [_app("app-other", squatter.project_id, NOW)])
        await conn.execute(numbers.insert().values(number=NUMBER, project_id=owner.project_id))
    assert await _inbound_apps(any_db) == []


async def test_mo_to_an_unrouted_number_goes_to_the_oldest_app_naming_it(any_db: Database) -> None:
    project = await do_create_project(any_db, "p", NOW)
    async with any_db.write() as conn:
        await conn.execute(conv_apps.insert(), [_app("app-new", project.project_id, NOW),
                                                _app("app-old", project.project_id, NOW - 10)])
    assert await _inbound_apps(any_db) == ["app-old"]
