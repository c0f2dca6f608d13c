"""Concatenated MO joined from parts stored durably, in both profiles: parts that reach different
workers (separate outcome writers on one database) in any order make one inbound message; a part
delivered again changes nothing; a reused reference starts a new message; parts that stop coming
are stored as they are after `mo_reassembly_seconds`; and two workers storing a message's last
parts at the same moment store it exactly once."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from tidings.config import Settings
from tidings.queue.local import LocalDispatchQueue
from tidings.runtime.context import Context
from tidings.store.db import Database
from tidings.store.group_commit import GroupCommitter
from tidings.store.schema import inbounds, mo_parts
from tidings.workers.events import MobileOriginated, MoPart
from tidings.workers.sweeper import Sweeper
from tidings.workers.writer import OutcomeWriter

NOW = 1_800_000_000_000
HANDSET, OURS = "+46701234567", "+46700000000"


class Clock:
    def __init__(self) -> None:
        self.ms = NOW

    def __call__(self) -> int:
        return self.ms


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def ctx(any_db: Database, clock: Clock) -> AsyncIterator[Context]:
    committer = GroupCommitter(any_db)
    committer.start()
    yield Context(Settings(mo_reassembly_seconds=60), any_db, committer, LocalDispatchQueue(), clock)
    await committer.aclose()


@pytest.fixture
async def writers(ctx: Context) -> AsyncIterator[list[OutcomeWriter]]:
    """Two workers' outcome writers on one database."""
    pair = [OutcomeWriter(ctx.db, ctx.clock), OutcomeWriter(ctx.db, ctx.clock)]
    for writer in pair:
        writer.start()
    yield pair
    for writer in pair:
        await writer.aclose()


def gsm_parts(text: str, total: int, reference: int = 7, sender: str = HANDSET) -> list[MoPart]:
    size = -(-len(text) // total)
    chunks = [text[i * size:(i + 1) * size] for i in range(total)]
    return [MoPart("sandbox", None, sender, OURS, reference, total, seq, 0x00, chunk.encode("ascii"), NOW + seq)
            for seq, chunk in enumerate(chunks, 1)]


async def stored_bodies(db: Database) -> list[str]:
    async with db.read() as conn:
        return list((await conn.execute(select(inbounds.c.body).order_by(inbounds.c.received_ms))).scalars())


async def part_rows(db: Database) -> tuple[int, int]:
    """(parts waiting, parts of stored messages)."""
    async with db.read() as conn:
        waiting = (await conn.execute(select(func.count()).select_from(mo_parts)
                                      .where(mo_parts.c.assembled_ms.is_(None)))).scalar_one()
        done = (await conn.execute(select(func.count()).select_from(mo_parts)
                                   .where(mo_parts.c.assembled_ms.is_not(None)))).scalar_one()
    return waiting, done


async def test_parts_over_two_workers_in_any_order_make_one_message(
        ctx: Context, writers: list[OutcomeWriter]) -> None:
    text = "Please move my appointment to Thursday afternoon, any time after three works for me."
    first, second, third = gsm_parts(text, 3)
    await writers[0].apply([third])
    await writers[1].apply([first])
    assert await stored_bodies(ctx.db) == []
    assert await part_rows(ctx.db) == (2, 0)
    await writers[0].apply([second])
    assert await stored_bodies(ctx.db) == [text]
    assert await part_rows(ctx.db) == (0, 3)


async def test_the_payloads_are_joined_before_they_are_decoded(ctx: Context, writers: list[OutcomeWriter]) -> None:
    text = "Tack 🚲!"
    payload = text.encode("utf-16-be")
    cut = payload.index("🚲".encode("utf-16-be")) + 2  # between the two halves of the surrogate pair
    parts = [MoPart("sandbox", None, HANDSET, OURS, 3, 2, 1, 0x08, payload[:cut], NOW),
             MoPart("sandbox", None, HANDSET, OURS, 3, 2, 2, 0x08, payload[cut:], NOW + 1)]
    await writers[1].apply([parts[1]])
    await writers[0].apply([parts[0]])
    assert await stored_bodies(ctx.db) == [text]


async def test_a_part_delivered_again_changes_nothing(ctx: Context, writers: list[OutcomeWriter]) -> None:
    text = "Yes, book me in for the ten o'clock slot on Tuesday please, thanks a lot!"
    first, second = gsm_parts(text, 2)
    await writers[0].apply([first])
    await writers[1].apply([first])  # the SMSC did not get the first answer
    assert await part_rows(ctx.db) == (1, 0)
    await writers[0].apply([second])
    await writers[1].apply([second])  # nor this one: after the message was stored
    await writers[0].apply([first])
    assert await stored_bodies(ctx.db) == [text]
    assert await part_rows(ctx.db) == (0, 2)


async def test_messages_of_one_handset_under_other_references_keep_apart(
        ctx: Context, writers: list[OutcomeWriter]) -> None:
    """One flush reads every part between the flush's handsets and numbers (one statement on
    PostgreSQL): parts of the same pair's other messages, and of other senders, never join in."""
    one = "A first long message from this handset, sent in three parts to the same number."
    two = "A second long message from the very same handset, two parts, another reference."
    other = "A long message from another handset under the first one's reference number."
    a1, a2, a3 = gsm_parts(one, 3, reference=7)
    b1, b2 = gsm_parts(two, 2, reference=8)
    c1, c2 = gsm_parts(other, 2, reference=7, sender="+46709999999")
    await writers[0].apply([a1, b2, c1])
    await writers[1].apply([a3, b1, c2])  # b and c complete here; a still waits for its second part
    assert sorted(await stored_bodies(ctx.db)) == sorted([two, other])
    await writers[0].apply([a2])
    assert sorted(await stored_bodies(ctx.db)) == sorted([one, two, other])


async def test_a_reused_reference_starts_a_new_message(ctx: Context, writers: list[OutcomeWriter]) -> None:
    earlier = "The first long message that this handset sent to us, in two parts."
    later = "Another long message under the same reference number, also two parts."
    for part in gsm_parts(earlier, 2):
        await writers[0].apply([part])
    for part in gsm_parts(later, 2):
        await writers[1].apply([part])
    assert await stored_bodies(ctx.db) == [earlier, later]


async def test_a_new_message_under_a_waiting_reference_stores_what_came_of_the_old_one(
        ctx: Context, writers: list[OutcomeWriter]) -> None:
    lost_end = gsm_parts("Part one of a message whose second part never came. ....", 2)
    fresh = gsm_parts("A new message reusing that reference, which does arrive.", 2)
    await writers[0].apply([lost_end[0]])
    await writers[1].apply([fresh[0]])  # sequence 1 again, another text: the old one is over
    await writers[0].apply([fresh[1]])
    assert await stored_bodies(ctx.db) == [lost_end[0].payload.decode(), fresh[0].payload.decode() + fresh[1].payload.decode()]


async def test_parts_that_stop_coming_are_stored_as_they_are_after_the_timeout(
        ctx: Context, writers: list[OutcomeWriter], clock: Clock) -> None:
    first, _, third = gsm_parts("One, (two never arrives), three: the handset's network lost a part.", 3)
    await writers[0].apply([first, third])
    sweeper = Sweeper(ctx, writers[1])
    clock.ms = NOW + 59_000
    assert await sweeper.store_overdue_mo() == 0
    clock.ms = NOW + 61_000
    assert await sweeper.store_overdue_mo() == 1
    assert await stored_bodies(ctx.db) == [first.payload.decode() + third.payload.decode()]
    assert await sweeper.store_overdue_mo() == 0
    # The parts are kept to recognise redelivered ones, then purged.
    assert await sweeper.purge_mo_parts() == 0
    clock.ms = NOW + 122_000
    assert await sweeper.purge_mo_parts() == 2
    assert await part_rows(ctx.db) == (0, 0)


async def test_a_straggler_after_the_timeout_is_kept_as_a_message_of_its_own(
        ctx: Context, writers: list[OutcomeWriter], clock: Clock) -> None:
    first, second = gsm_parts("The first half arrives in time; the second half comes very late.", 2)
    await writers[0].apply([first])
    clock.ms = NOW + 61_000
    sweeper = Sweeper(ctx, writers[0])
    assert await sweeper.store_overdue_mo() == 1
    await writers[1].apply([second])
    assert await stored_bodies(ctx.db) == [first.payload.decode()]
    assert await part_rows(ctx.db) == (1, 0)
    clock.ms = NOW + 200_000
    assert await sweeper.store_overdue_mo() == 1
    assert await stored_bodies(ctx.db) == [first.payload.decode(), second.payload.decode()]


async def test_two_workers_storing_the_last_parts_at_once_store_the_message_once(
        ctx: Context, writers: list[OutcomeWriter]) -> None:
    messages = {ref: f"Message number {ref:03d} in two parts, raced by two workers at once." for ref in range(40)}
    for ref, text in messages.items():
        first, second = gsm_parts(text, 2, reference=ref)
        await asyncio.gather(writers[0].apply([first]), writers[1].apply([second]))
    assert sorted(await stored_bodies(ctx.db)) == sorted(messages.values())
    assert await part_rows(ctx.db) == (0, 80)


async def test_one_flush_with_several_parts_of_one_message_and_its_successor(
        ctx: Context, writers: list[OutcomeWriter]) -> None:
    """A flush is worked out in memory part by part: the answers must be those of the parts
    applied one at a time."""
    text = "All three parts of this message, and a copy of its first, arrive in one flush."
    first, second, third = gsm_parts(text, 3, reference=11)
    await writers[0].apply([first, third, first, second])
    assert await stored_bodies(ctx.db) == [text]
    assert await part_rows(ctx.db) == (0, 3)

    old = gsm_parts("An earlier message under reference twelve, in two parts.", 2, reference=12)
    new = gsm_parts("A newer message reusing reference twelve, also two parts.", 2, reference=12)
    lost = gsm_parts("Only its first part arrives before a new message takes its place...", 2, reference=13)
    took = gsm_parts("The message that takes reference thirteen over, complete.", 2, reference=13)
    await writers[1].apply([*old, new[0], lost[0], took[0], new[1], took[1], old[0]])
    assert sorted(await stored_bodies(ctx.db)) == sorted([
        text, "".join(p.payload.decode() for p in old), "".join(p.payload.decode() for p in new),
        lost[0].payload.decode(), "".join(p.payload.decode() for p in took),
    ])
    # old[0] again, after `new` took reference twelve over: no longer recognised, it starts a
    # message of its own (kept waiting), as it would have in a flush of its own.
    assert await part_rows(ctx.db) == (1, 3 + 2)


async def test_a_short_reply_delivered_again_is_stored_once(ctx: Context, writers: list[OutcomeWriter]) -> None:
    """An SMSC may deliver an MO again (its deliver_sm_resp lost): the same (connection, message
    id) is stored once, whether it comes again in the same flush, in a later one or through
    another worker; a reply without a message id is never taken for another."""
    first = MobileOriginated("sandbox", "mo-1", HANDSET, OURS, "Yes please", NOW)
    no_id = MobileOriginated("sandbox", None, HANDSET, OURS, "No id", NOW + 2)
    # Stored twice, the unique key would refuse the flush and the writer retry it for ever.
    async with asyncio.timeout(10):
        await writers[0].apply([first, first])
        await writers[0].apply([first])
        await writers[1].apply([first])
        await writers[0].apply([MobileOriginated("other", "mo-1", HANDSET, OURS, "Same id, other SMSC", NOW + 1)])
        await writers[1].apply([no_id, no_id])
    assert await stored_bodies(ctx.db) == ["Yes please", "Same id, other SMSC", "No id", "No id"]


async def stored_binary(db: Database) -> list[tuple[str, str, str | None]]:
    async with db.read() as conn:
        rows = await conn.execute(select(inbounds.c.type, inbounds.c.body, inbounds.c.udh)
                                  .order_by(inbounds.c.received_ms))
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_binary_parts_are_joined_as_bytes_keeping_their_header(
        ctx: Context, writers: list[OutcomeWriter], clock: Clock) -> None:
    """8-bit data is never decoded: the parts' payloads are joined as they came (bytes a text
    codec would mangle included), over two workers; the header elements (ports) come with it."""
    ports = bytes.fromhex("06050415811581")
    data = bytes(range(256))
    halves = [data[:128], data[128:]]
    parts = [MoPart("sandbox", None, HANDSET, OURS, 9, 2, seq, 0x04, half, NOW + seq, ports)
             for seq, half in enumerate(halves, 1)]
    await writers[1].apply([parts[1]])
    await writers[0].apply([parts[0]])
    # 8-bit data without other elements, and a lost part stored by the sweeper: bytes too.
    plain = [MoPart("sandbox", None, HANDSET, OURS, 10, 3, seq, 0xF5, bytes([seq, 0xFF]), NOW + 10 + seq)
             for seq in (1, 3)]
    await writers[0].apply(plain)
    clock.ms = NOW + 61_000
    assert await Sweeper(ctx, writers[1]).store_overdue_mo() == 1
    assert await stored_binary(ctx.db) == [
        ("mo_binary", base64.b64encode(data).decode(), "06050415811581"),
        ("mo_binary", base64.b64encode(b"\x01\xff\x03\xff").decode(), None),
    ]
