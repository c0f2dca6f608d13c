"""Long MO over real SMPP from the sandbox SMSC, in both profiles: the SMSC spreads a message's
parts over every session the account has bound (as two workers would each bind), and each part
is acknowledged as soon as it is stored; the message is stored once, whole. A worker that dies
after storing a part but before answering loses nothing: the SMSC delivers the part again to the
other worker, which recognises it."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence

import pytest
from sqlalchemy import func, select

from tidings.channels.sms_smpp.connector import SmppConnector
from tidings.runtime.context import now_ms
from tidings.sandbox.world import Sandbox
from tidings.store.db import Database
from tidings.store.schema import inbounds, mo_parts
from tidings.workers.events import Event, MoPart
from tidings.workers.writer import OutcomeWriter

from .conftest import sandbox_connection

HANDSET, OURS = "+46701310001", "+46700000000"


class CountingWriter(OutcomeWriter):
    """A worker's outcome writer that counts the MO parts it stored, per concatenation reference."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, now_ms)
        self.parts: Counter[int] = Counter()
        self.after_part: Callable[[], asyncio.Future[None] | None] = lambda: None

    async def apply(self, events: Sequence[Event]) -> None:
        await super().apply(events)
        for event in events:
            if isinstance(event, MoPart):
                self.parts[event.reference] += 1
                hang = self.after_part()
                if hang is not None:
                    await hang


@pytest.fixture
async def workers(any_db: Database, sandbox: Sandbox) -> AsyncIterator[list[tuple[SmppConnector, CountingWriter]]]:
    """Two workers' halves: each its own writer and its own bind of the one connection."""
    pairs = []
    for _ in range(2):
        writer = CountingWriter(any_db)
        writer.start()
        pairs.append((SmppConnector(sandbox_connection(sandbox), writer, now_ms), writer))
    yield pairs
    for connector, writer in pairs:
        await connector.aclose()
        await writer.aclose()


async def stored(db: Database, count: int) -> list[str]:
    async with asyncio.timeout(10):
        while True:
            async with db.read() as conn:
                bodies = list((await conn.execute(select(inbounds.c.body))).scalars())
            if len(bodies) >= count:
                await asyncio.sleep(0.2)  # a duplicate would show up now
                async with db.read() as conn:
                    return list((await conn.execute(select(inbounds.c.body))).scalars())
            await asyncio.sleep(0.02)


async def test_parts_spread_over_two_binds_make_one_message_each(
        any_db: Database, sandbox: Sandbox, workers: list[tuple[SmppConnector, CountingWriter]]) -> None:
    for connector, _ in workers:
        await connector.start()
    texts = [f"Reply {i}: yes, please book the table for four people at eight on Friday evening, "
             f"by the window if you can, and we'd like the tasting menu. Thanks! ({'x' * (30 + i)})" for i in range(10)]
    for text in texts:
        await sandbox.send_mo(HANDSET, OURS, text)
    assert sorted(await stored(any_db, len(texts))) == sorted(texts)
    first, second = (writer.parts for _, writer in workers)
    assert sum(first.values()) + sum(second.values()) == 20  # two parts each, none twice
    assert set(first) & set(second), "no message had its parts split between the two binds"
    async with any_db.read() as conn:
        waiting = (await conn.execute(select(func.count()).select_from(mo_parts)
                                      .where(mo_parts.c.assembled_ms.is_(None)))).scalar_one()
    assert waiting == 0


async def test_a_worker_dying_after_storing_a_part_loses_nothing(
        any_db: Database, sandbox: Sandbox, workers: list[tuple[SmppConnector, CountingWriter]]) -> None:
    (doomed, doomed_writer), (survivor, survivor_writer) = workers
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def die() -> asyncio.Future[None]:
        """The part is committed; the process dies before it answers the deliver_sm."""
        doomed.client._closing = True  # noqa: SLF001 - a dead process does not reconnect
        for session in list(sandbox._sessions()):  # noqa: SLF001 - its TCP connection drops
            session._transport.abort()  # noqa: SLF001
        return never

    doomed_writer.after_part = die
    try:
        await doomed.start()
        text = "Three parts: the first is stored by a worker that dies before answering; " * 5
        await sandbox.send_mo(HANDSET, OURS, text)
        async with asyncio.timeout(5):
            while not doomed_writer.parts:
                await asyncio.sleep(0.01)
        await survivor.start()
        async with asyncio.timeout(10):  # every part, the ones the dead worker stored again
            while sum(survivor_writer.parts.values()) < 3:
                await asyncio.sleep(0.01)
        assert await stored(any_db, 1) == [text]
    finally:
        never.cancel()
