"""Several named SMPP connections, in both profiles: the first bound one carries the traffic, and
while it is down messages flow (submits and receipts) through the other, a second sandbox SMSC
on its own port; when it comes back it carries the traffic again."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from tidings.config import SmppConnectionSettings
from tidings.runtime.embedded import SANDBOX_PASSWORD, SANDBOX_SYSTEM_ID
from tidings.sandbox.world import Sandbox
from tidings.store import schema
from tidings.testing.platform import Platform

from .helpers import FROM, wait_status, wait_until


async def connection_of(platform: Platform, batch_id: str) -> set[str]:
    d = schema.deliveries
    async with platform.ctx.db.read() as conn:
        return {r[0] for r in await conn.execute(select(d.c.connection).where(d.c.batch_id == batch_id))}


async def send_one(platform: Platform, http: httpx.AsyncClient, recipient: str, body: str) -> str:
    batch = await platform.send(http, to=[recipient], body=body, **{"from": FROM})
    await wait_status(platform, http, batch["id"], recipient, "Delivered", timeout=15.0)
    return batch["id"]  # type: ignore[no-any-return]


async def test_messages_flow_through_the_other_connection_while_one_is_down(
    platform_factory: Any, http: httpx.AsyncClient,
) -> None:
    backup = Sandbox(seed=11)
    backup.add_account(SANDBOX_SYSTEM_ID, SANDBOX_PASSWORD)
    await backup.start()
    backup_connection = SmppConnectionSettings(
        name="backup", host="127.0.0.1", port=backup.port, system_id=SANDBOX_SYSTEM_ID, password=SANDBOX_PASSWORD,
    )
    try:
        async with platform_factory(extra_connections=(backup_connection,)) as platform:
            primary = platform.sandbox
            handset = "+46701910001"

            first = await send_one(platform, http, handset, "via primary")
            assert [m.body for m in primary.messages_for(handset)] == ["via primary"]
            assert backup.messages_for(handset) == []
            assert await connection_of(platform, first) == {"sandbox"}

            # The primary SMSC goes away: the same platform keeps sending, through the backup.
            port = primary.port
            await primary.stop()
            bodies = [f"while primary is down {i}" for i in range(3)]
            batches = [await send_one(platform, http, handset, body) for body in bodies]
            assert [m.body for m in backup.messages_for(handset)] == bodies
            for batch_id in batches:
                assert await connection_of(platform, batch_id) == {"backup"}
            assert len(primary.messages_for(handset)) == 1

            # It comes back on its port: the ESME rebinds and it is preferred again.
            await primary.start(port=port)
            handset_b = "+46701910002"

            async def rebound() -> bool:
                batch_id = await send_one(platform, http, handset_b, "after the primary is back")
                return await connection_of(platform, batch_id) == {"sandbox"}

            await wait_until(rebound, "traffic back on the primary connection", timeout=15.0, interval=0.2)
            assert primary.messages_for(handset_b)[-1].body == "after the primary is back"
    finally:
        await backup.stop()
