"""An SMSC that delivers receipts and MO as data_sm (text in message_payload), in both profiles:
the sandbox SMSC does so for an account added with `data_sm=True`; the connector stores the
receipts and the MO, short and long, exactly as it does those that come as deliver_sm."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from tidings.channels.base import OutboundSms
from tidings.channels.sms_smpp.connector import SmppConnector
from tidings.runtime.context import now_ms
from tidings.sandbox.world import Sandbox
from tidings.smpp.pdu import DataSm
from tidings.store.db import Database
from tidings.store.schema import inbounds, orphan_receipts
from tidings.workers.writer import OutcomeWriter

from .conftest import sandbox_connection

HANDSET, OURS = "+46701310001", "+46700000000"


@pytest.fixture
async def connector(any_db: Database) -> AsyncIterator[tuple[SmppConnector, Sandbox, list[object]]]:
    sandbox = Sandbox(seed=3)
    sandbox.add_account("acct", "pw", data_sm=True)
    await sandbox.start()
    writer = OutcomeWriter(any_db, now_ms)
    writer.start()
    smpp = SmppConnector(sandbox_connection(sandbox), writer, now_ms)
    received: list[object] = []
    handle = smpp.client._on_deliver_sm  # noqa: SLF001 - record what the SMSC sent, then handle it

    async def recording(pdu: object) -> int:
        received.append(pdu)
        return await handle(pdu)  # type: ignore[misc,arg-type]

    smpp.client._on_deliver_sm = recording  # noqa: SLF001
    await smpp.start()
    yield smpp, sandbox, received
    await smpp.aclose()
    await writer.aclose()
    await sandbox.stop()


async def rows(db: Database, query: object, count: int) -> list[tuple[object, ...]]:
    async with asyncio.timeout(10):
        while True:
            async with db.read() as conn:
                found = [tuple(r) for r in await conn.execute(query)]  # type: ignore[call-overload]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)


async def test_mo_short_and_long_as_data_sm(any_db: Database, connector: tuple[SmppConnector, Sandbox, list[object]]) -> None:
    _, sandbox, received = connector
    long_text = "A long reply that the SMSC delivers in parts, each a data_sm with a UDH. " * 4
    await sandbox.send_mo(HANDSET, OURS, "STOP")
    await sandbox.send_mo(HANDSET, OURS, long_text)
    stored = await rows(any_db, select(inbounds.c.sender, inbounds.c.body), 2)
    assert sorted(stored) == sorted([(HANDSET, "STOP"), (HANDSET, long_text)])
    assert len(received) == 3 and all(isinstance(pdu, DataSm) for pdu in received)


async def test_receipts_as_data_sm(any_db: Database, connector: tuple[SmppConnector, Sandbox, list[object]]) -> None:
    smpp, _, received = connector
    ids = await smpp.send(OutboundSms(1, OURS, HANDSET, "x" * 200))  # two parts, a receipt each
    # No dispatch worker recorded the submissions here: the receipts are kept as orphans.
    stored = await rows(any_db, select(orphan_receipts.c.smsc_message_id, orphan_receipts.c.status), 2)
    assert sorted(stored) == sorted((i, "Delivered") for i in ids)
    assert all(isinstance(pdu, DataSm) for pdu in received)
