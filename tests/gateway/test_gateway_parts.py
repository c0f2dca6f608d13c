"""Concatenated submit_sm at the SMPP gateway, in both profiles: each part stored and answered at
once (a window of 1, a client that waits for every answer), parts over several binds and gateway
servers and across a gateway restart, parts that stop coming, a message refused after its first
parts were accepted, a part submitted again, query_sm while parts are coming, and a process that
stopped between claiming a message and sending it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from tidings.gateway.parts import PartsSweeper, send_claimed, store_part
from tidings.gateway.service import Gateway
from tidings.gateway.submit import parse_submit
from tidings.smpp.constants import CommandStatus, MessageState
from tidings.smpp.pdu import SubmitSm
from tidings.store import gateway as gq
from tidings.store.gateway_schema import smpp_accounts, smpp_submit_parts
from tidings.store.schema import batches
from tidings.testing.platform import Platform

from ..pipeline.helpers import handset_messages, wait_handset, wait_until
from .esme import Esme, is_receipt, receipt_id, text

EsmeFactory = Callable[..., Awaitable[Esme]]
LONG = "Your parcel 7731 is at the Depot Street locker until Friday; the code opens door 14. " * 3


def parts_of(body: str, reference: int = 0x42) -> list[bytes]:
    """`body` split as an ESME does: short_message with a concatenation UDH each."""
    chunks = [body[i:i + 150].encode("latin-1") for i in range(0, len(body), 150)]
    return [bytes((5, 0, 3, reference, len(chunks), n)) + chunk for n, chunk in enumerate(chunks, 1)]


async def submit_part(esme: Esme, part: bytes, to: str, registered_delivery: int = 1) -> tuple[int, str]:
    [response] = await esme.submit(to=to, short_message=part, esm_class=0x40, data_coding=0,
                                   registered_delivery=registered_delivery)
    return response.status, response.message_id


async def stored_parts(platform: Platform) -> int:
    async with platform.ctx.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(smpp_submit_parts))).scalar_one())


async def test_each_part_is_answered_at_once_so_a_window_of_one_sends_long_messages(
    platform: Platform, esmes: EsmeFactory, http: httpx.AsyncClient,
) -> None:
    async with platform.ctx.db.write() as conn:
        await conn.execute(update(smpp_accounts).where(smpp_accounts.c.system_id == platform.creds.smpp_system_id)
                           .values(window=1))
    esme = await esmes()
    answers = [await submit_part(esme, part, "46701300001") for part in parts_of(LONG)]  # one at a time
    assert len(answers) == 2
    assert {status for status, _ in answers} == {CommandStatus.ESME_ROK}
    [message_id] = {message_id for _, message_id in answers}
    [message] = await wait_handset(platform, http, "+46701300001")
    assert message["body"] == LONG
    [receipt] = await esme.deliveries(1, where=is_receipt)
    assert receipt_id(receipt) == message_id
    assert "stat:DELIVRD" in text(receipt)


async def submit_to_another_gateway(platform: Platform, part: bytes, to: str) -> tuple[int, str]:
    """Submit `part` through a gateway server of its own, stopped afterwards (its parts stay in the
    database)."""
    other = Gateway(platform.gateway.ctx, "127.0.0.1", 0)
    await other.start()
    try:
        esme = Esme(other.port, platform.creds.smpp_system_id, platform.creds.smpp_password)
        await esme.bind("transmitter")
        answer = await submit_part(esme, part, to)
        await esme.close()
        return answer
    finally:
        await other.stop()


async def test_parts_over_binds_to_two_gateways_and_a_restart_make_one_message(
    platform: Platform, esmes: EsmeFactory, http: httpx.AsyncClient,
) -> None:
    """Part 1 to the platform's gateway, part 2 to a second gateway server, which is then stopped
    (its parts are in the database); part 3 to a third started afterwards."""
    body = LONG + "Bring an ID to the locker; it checks the name on the parcel against it."
    first, second, third = parts_of(body)
    esme = await esmes()
    status, message_id = await submit_part(esme, first, "46701300002")
    assert status == CommandStatus.ESME_ROK
    assert await submit_to_another_gateway(platform, second, "46701300002") == (CommandStatus.ESME_ROK, message_id)
    assert await handset_messages(platform, http, "+46701300002") == []
    assert await stored_parts(platform) == 2
    assert await submit_to_another_gateway(platform, third, "46701300002") == (CommandStatus.ESME_ROK, message_id)
    [message] = await wait_handset(platform, http, "+46701300002")
    assert message["body"] == body
    [receipt] = await esme.deliveries(1, where=is_receipt)
    assert receipt_id(receipt) == message_id


async def test_parts_that_stop_coming_are_sent_as_they_are(
    platform: Platform, esmes: EsmeFactory, http: httpx.AsyncClient,
) -> None:
    """The parts were answered ESME_ROK: when the rest never comes they are sent, not dropped."""
    platform.gateway.parts.timeout = 0.3
    platform.gateway.parts.interval = 0.05
    esme = await esmes()
    udh = bytes((5, 0, 3, 0x43, 3, 1))
    status, message_id = await submit_part(esme, udh + b"first of three, ", "46701300003")
    assert status == CommandStatus.ESME_ROK and message_id
    [message] = await wait_handset(platform, http, "+46701300003")
    assert message["body"] == "first of three, "
    [receipt] = await esme.deliveries(1, where=is_receipt)
    assert receipt_id(receipt) == message_id


async def test_a_message_refused_after_its_first_parts_were_accepted_gets_a_rejectd_receipt(
    platform: Platform, esmes: EsmeFactory, http: httpx.AsyncClient,
) -> None:
    body = "All work and no play makes a long message. " * 50  # 2,150 characters: over the 2,000 a body may have
    esme = await esmes()
    answers = [await submit_part(esme, part, "46701300004") for part in parts_of(body)]
    assert len(answers) == 15
    assert {a for a in answers[:-1]} == {(CommandStatus.ESME_ROK, answers[0][1])}
    assert answers[-1] == (CommandStatus.ESME_RINVMSGLEN, "")
    [receipt] = await esme.deliveries(1, where=is_receipt)
    assert receipt_id(receipt) == answers[0][1]
    assert "stat:REJECTD" in text(receipt) and f"err:{CommandStatus.ESME_RINVMSGLEN:03d}" in text(receipt)
    assert await stored_parts(platform) == 0
    async with platform.ctx.db.read() as conn:
        assert (await conn.execute(select(batches.c.id).where(batches.c.id == answers[0][1]))).first() is None
    assert await handset_messages(platform, http, "+46701300004") == []


async def test_a_part_submitted_again_while_the_message_waits_replaces_the_first_copy(
    platform: Platform, esmes: EsmeFactory, http: httpx.AsyncClient,
) -> None:
    """Its first answer was lost, say: the same part again, or a corrected one, under the same id."""
    first, second = parts_of(LONG, reference=0x44)
    esme = await esmes()
    _, message_id = await submit_part(esme, first, "46701300005", registered_delivery=0)
    assert await submit_part(esme, first, "46701300005", registered_delivery=0) == (CommandStatus.ESME_ROK, message_id)
    corrected = first.replace(b"7731", b"7732")
    assert await submit_part(esme, corrected, "46701300005", registered_delivery=0) == (CommandStatus.ESME_ROK,
                                                                                        message_id)
    assert await submit_part(esme, second, "46701300005", registered_delivery=0) == (CommandStatus.ESME_ROK, message_id)
    [message] = await wait_handset(platform, http, "+46701300005")
    assert message["body"] == LONG[:150].replace("7731", "7732") + LONG[150:]
    async with platform.ctx.db.read() as conn:
        sent = (await conn.execute(select(func.count()).select_from(batches)
                                   .where(batches.c.id == message_id))).scalar_one()
    assert sent == 1


async def test_the_same_long_message_sent_twice_under_one_reference_is_sent_twice(
    platform: Platform, esmes: EsmeFactory, http: httpx.AsyncClient,
) -> None:
    """Clients that number every message with one reference: once a message is complete, its
    reference numbers the next one, even with the same text."""
    esme = await esmes()
    ids = set()
    for _ in range(2):
        answers = [await submit_part(esme, part, "46701300009", registered_delivery=0)
                   for part in parts_of(LONG, reference=0)]
        assert len({message_id for _, message_id in answers}) == 1
        ids.add(answers[0][1])
    assert len(ids) == 2
    messages = await wait_handset(platform, http, "+46701300009", count=2)
    assert [m["body"] for m in messages] == [LONG, LONG]


async def test_query_sm_says_enroute_while_parts_are_coming(platform: Platform, esmes: EsmeFactory) -> None:
    esme = await esmes()
    [first, _] = parts_of(LONG, reference=0x45)
    _, message_id = await submit_part(esme, first, "46701300006")
    states: list[int] = []
    esme.client.set_query_resp_handler(lambda pdu, **_: states.append(int(pdu.message_state)))
    await asyncio.to_thread(esme.client.query_message, message_id=message_id, source_addr_ton=5,
                            source_addr_npi=0, source_addr="Acme")

    async def answered() -> bool:
        return bool(states)

    await wait_until(answered, "query_sm_resp")
    assert states == [MessageState.ENROUTE]


async def test_a_message_claimed_by_a_process_that_stopped_is_sent_once_by_another(
    platform: Platform, http: httpx.AsyncClient,
) -> None:
    """The last part was stored (the message claimed) but the process stopped before its batch was
    committed: a sweeper sends it; a second pass, or the first process coming back, does not."""
    ctx = platform.gateway.ctx
    async with ctx.db.read() as conn:
        account = await gq.account(conn, platform.creds.smpp_system_id)
    assert account is not None
    tons = (5, 0, 1, 1)
    stored = None
    for part in parts_of(LONG, reference=0x46):
        pdu = SubmitSm(source_addr="Acme", source_addr_ton=5, destination_addr="46701300007", dest_addr_ton=1,
                       dest_addr_npi=1, esm_class=0x40, registered_delivery=0, short_message=part)
        stored = await store_part(ctx.db, account.system_id, parse_submit(pdu, ctx.clock()), tons, ctx.clock())
    assert stored is not None and stored.claimed is not None  # claimed, and then the process "stopped"
    sweeper = PartsSweeper(ctx, claim_timeout=0.0)
    await wait_until(lambda: sweeper.run_once(), "the claimed message sent by the sweeper")
    [message] = await wait_handset(platform, http, "+46701300007")
    assert message["body"] == LONG
    assert await sweeper.run_once() == 0  # it has its batch now
    assert await send_claimed(ctx, account, stored.claimed) == (CommandStatus.ESME_ROK, stored.message_id)
    async with ctx.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(batches)
                                   .where(batches.c.id == stored.message_id))).scalar_one() == 1
    assert len(await handset_messages(platform, http, "+46701300007")) == 1

    async def gone() -> bool:
        await sweeper.run_once()
        return await stored_parts(platform) == 0

    await wait_until(gone, "the sent message's parts deleted")


async def test_a_last_part_whose_send_fails_is_answered_and_its_message_sent_later(
    platform: Platform, esmes: EsmeFactory, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The message is stored and claimed when its send fails (the database went away, say): the
    part is answered with the message's id, and a parts sweeper sends it after the claim timeout."""
    from tidings.gateway import parts as parts_module

    real_send = parts_module.send_message
    failures = []

    async def failing_once(*args: Any, **kwargs: Any) -> Any:
        if not failures:
            failures.append(1)
            raise ConnectionError("the database went away")
        return await real_send(*args, **kwargs)

    monkeypatch.setattr(parts_module, "send_message", failing_once)
    platform.gateway.parts.claim_timeout = 0.2
    platform.gateway.parts.interval = 0.05
    esme = await esmes()
    answers = [await submit_part(esme, part, "46701300010") for part in parts_of(LONG, reference=0x48)]
    assert failures == [1]
    assert {a for a in answers} == {(CommandStatus.ESME_ROK, answers[0][1])}
    [message] = await wait_handset(platform, http, "+46701300010")
    assert message["body"] == LONG
    [receipt] = await esme.deliveries(1, where=is_receipt)
    assert receipt_id(receipt) == answers[0][1]
