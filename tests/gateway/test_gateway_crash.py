"""kill -9 of `tidings serve` between the parts of a concatenated submit_sm (embedded profile):
the part answered ESME_ROK before the kill is in the database, and the part submitted after the
restart completes the message, which reaches the handset whole under the id both parts were
answered with."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import smpplib.consts

from tidings.smpp.constants import CommandStatus
from tidings.store.db import Database, sqlite_url
from tidings.store.gateway_schema import smpp_submit_parts
from tidings.testing.ports import free_ports

from ..pipeline.faults_support import Proc, wait_healthy, wait_until
from .esme import Esme

BODY = ("Your appointment on Tuesday is confirmed for 10:00 at the Depot Street clinic; "
        "bring the letter we sent and arrive ten minutes early, please. ") * 2


def parts_of(body: str) -> list[bytes]:
    chunks = [body[i:i + 150].encode("latin-1") for i in range(0, len(body), 150)]
    return [bytes((5, 0, 3, 0x61, len(chunks), n)) + chunk for n, chunk in enumerate(chunks, 1)]


async def submit_part(esme: Esme, part: bytes) -> tuple[int, str]:
    [response] = await esme.submit(to="46701500001", short_message=part, esm_class=0x40, data_coding=0,
                                   registered_delivery=0, source_ton=smpplib.consts.SMPP_TON_ALNUM)
    return response.status, response.message_id


async def test_a_part_answered_before_a_kill_is_joined_by_the_rest_after_the_restart(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    port, smpp_port = free_ports(2)
    base_url = f"http://127.0.0.1:{port}"
    command = ["serve", "--data-dir", data_dir, "--port", str(port), "--smpp-port", str(smpp_port)]
    procs = [Proc(command, {}, str(tmp_path / "serve-1.log"))]
    db = Database(sqlite_url(data_dir))
    parts = parts_of(BODY)
    assert len(parts) >= 2
    try:
        await wait_healthy(base_url, procs[0])
        creds = json.loads((Path(data_dir) / "demo-project.json").read_text())
        esme = Esme(smpp_port, creds["smpp_system_id"], creds["smpp_password"])
        await esme.bind("transmitter")
        answers = [await submit_part(esme, part) for part in parts[:-1]]
        assert {status for status, _ in answers} == {CommandStatus.ESME_ROK}
        [message_id] = {message_id for _, message_id in answers}

        procs[0].kill()
        await asyncio.to_thread(esme.close_sync)
        async with db.read() as conn:
            stored = list(await conn.execute(smpp_submit_parts.select()))
        assert [(row.message_id, row.sequence) for row in stored] == [
            (message_id, n) for n in range(1, len(parts))]

        procs.append(Proc(command, {}, str(tmp_path / "serve-2.log")))
        await wait_healthy(base_url, procs[1])
        esme = Esme(smpp_port, creds["smpp_system_id"], creds["smpp_password"])
        await esme.bind("transmitter")
        assert await submit_part(esme, parts[-1]) == (CommandStatus.ESME_ROK, message_id)

        async with httpx.AsyncClient() as http:
            async def arrived() -> list[dict[str, str]]:
                response = await http.get(f"{base_url}/sandbox/v1/handsets/46701500001/messages")
                return response.json()["messages"] if response.status_code == 200 else []

            await wait_until(arrived, 15, "the message on the handset")
            [message] = await arrived()
            assert message["body"] == BODY
        await esme.close()
    finally:
        for proc in procs:
            await proc.terminate()
        await db.aclose()
