"""Distributed profile, real processes: two `tidings smpp` gateways and a `tidings worker` on
PostgreSQL and Redis, against a sandbox SMSC run by the test. The parts of one concatenated
message submitted to both gateways, one of them then killed with SIGKILL, make one message; an
account's bind limit and an address's failed binds hold across the two processes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import smpplib.consts
import smpplib.exceptions
from sqlalchemy import update

from tidings.smpp.constants import CommandStatus
from tidings.store.gateway_schema import smpp_accounts
from tidings.testing.ports import free_port

from ..pipeline.faults_support import Proc, wait_until
from ..pipeline.test_faults_workers import Cluster, cluster
from .esme import Esme

BODY = ("Parts over two gateway processes, one of them killed in between, still make one message "
        "on the handset: nothing acknowledged is lost. ") * 3
RECIPIENT = "+46701600001"


def parts_of(body: str) -> list[bytes]:
    chunks = [body[i:i + 150].encode("latin-1") for i in range(0, len(body), 150)]
    return [bytes((5, 0, 3, 0x71, len(chunks), n)) + chunk for n, chunk in enumerate(chunks, 1)]


async def start_gateway(c: Cluster) -> tuple[Proc, int]:
    port = free_port()
    proc = c.start("smpp", "--port", str(port))
    assert c.creds is not None

    async def listening() -> bool:
        assert proc.popen.poll() is None, proc.output()
        try:
            await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        return True

    await wait_until(listening, 30.0, f"tidings smpp on port {port}", interval=0.1)
    return proc, port


async def bind(c: Cluster, port: int, password: str | None = None) -> Esme:
    assert c.creds is not None
    esme = Esme(port, c.creds.smpp_system_id, password or c.creds.smpp_password)
    await esme.bind("transmitter")
    return esme


async def bind_status(c: Cluster, port: int, password: str | None = None) -> int:
    assert c.creds is not None
    esme = Esme(port, c.creds.smpp_system_id, password or c.creds.smpp_password)
    try:
        await esme.bind("transmitter")
    except smpplib.exceptions.PDUError as exc:
        await asyncio.to_thread(esme.client.disconnect)  # the gateway closed it: let go of the socket
        return int(exc.args[1])
    await esme.close()
    return CommandStatus.ESME_ROK


async def test_parts_over_two_gateway_processes_one_killed_make_one_message(
    fresh_postgres_url: str, tmp_path: Path,
) -> None:
    async with cluster(fresh_postgres_url, tmp_path) as c:
        await c.start_workers(1)
        (first_proc, first_port), (_, second_port) = await start_gateway(c), await start_gateway(c)
        parts = parts_of(BODY)
        assert len(parts) == 3
        a = await bind(c, first_port)
        answers = [(await a.submit(to=RECIPIENT[1:], short_message=part, esm_class=0x40, data_coding=0,
                                   registered_delivery=0, source_ton=smpplib.consts.SMPP_TON_ALNUM))[0]
                   for part in parts[:2]]
        assert {r.status for r in answers} == {CommandStatus.ESME_ROK}
        [message_id] = {r.message_id for r in answers}
        first_proc.kill()
        await asyncio.to_thread(a.close_sync)

        b = await bind(c, second_port)
        [last] = await b.submit(to=RECIPIENT[1:], short_message=parts[2], esm_class=0x40, data_coding=0,
                                registered_delivery=0, source_ton=smpplib.consts.SMPP_TON_ALNUM)
        assert (last.status, last.message_id) == (CommandStatus.ESME_ROK, message_id)

        async def arrived() -> bool:
            return bool(c.sandbox.messages_for(RECIPIENT))

        await wait_until(arrived, 30.0, "the message on the handset")
        [message] = c.sandbox.messages_for(RECIPIENT)
        assert message.body == BODY
        await b.close()


async def test_bind_limit_and_failed_binds_hold_across_gateway_processes(
    fresh_postgres_url: str, tmp_path: Path,
) -> None:
    async with cluster(fresh_postgres_url, tmp_path) as c:
        (_, first_port), (_, second_port) = await start_gateway(c), await start_gateway(c)
        assert c.creds is not None
        async with c.db.write() as conn:
            await conn.execute(update(smpp_accounts).where(smpp_accounts.c.system_id == c.creds.smpp_system_id)
                               .values(max_binds=1))
        held = await bind(c, first_port)
        assert await bind_status(c, second_port) == CommandStatus.ESME_RBINDFAIL
        await held.close()

        async def freed() -> bool:
            return await bind_status(c, second_port) == CommandStatus.ESME_ROK

        await wait_until(freed, 10.0, "the bind's place given back")

        from tidings.gateway.guard import FAILED_BINDS

        for _ in range(FAILED_BINDS + 1):
            assert await bind_status(c, first_port, password="guess") == CommandStatus.ESME_RINVPASWD
        # Counted in Redis: the other process refuses this address too, the right password unread.
        assert await bind_status(c, second_port) == CommandStatus.ESME_RBINDFAIL



async def test_a_gateway_whose_port_is_taken_stops_saying_so(fresh_postgres_url: str, tmp_path: Path) -> None:
    async with cluster(fresh_postgres_url, tmp_path) as c:
        first, port = await start_gateway(c)
        second = c.start("smpp", "--port", str(port))
        assert await asyncio.to_thread(second.popen.wait, 30) == 1
        assert (f"tidings smpp: cannot listen on 127.0.0.1:{port} for the SMPP gateway: Address already in use; "
                "stop whatever holds it or choose another port with --port") in second.output()
        assert "Traceback" not in second.output()
        assert first.popen.poll() is None  # the first keeps serving
        await (await bind(c, port)).close()
