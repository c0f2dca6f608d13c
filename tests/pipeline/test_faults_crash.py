"""kill -9 of `tidings serve` mid-load (embedded profile): every send answered 201 is in the
database with its delivery row when the process dies, and is delivered after a restart on the
same data directory.

Two ways to place the carrier network:
- inside: the sandbox SMSC runs in the killed process and restarts empty, so what it had not
  reported is gone with it. Checked by database state: everything still Queued at the kill is
  Delivered after the restart and on the new sandbox's handsets; nothing moves backwards.
- outside: `TIDINGS_SMPP_CONNECTIONS` points at a sandbox this test runs, which outlives the
  kill (as a real SMSC does). Every accepted message ends Delivered and on its handset; a submit
  whose outcome died with the process may be sent twice, and the duplicates are counted.

SIGTERM instead of kill -9 is a graceful stop: no claim is left open and nothing is sent twice.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tidings.runtime.embedded import SANDBOX_PASSWORD, SANDBOX_SYSTEM_ID
from tidings.sandbox.world import Sandbox
from tidings.store.db import Database, sqlite_url
from tidings.store.schema import batches, deliveries
from tidings.testing.ports import free_port

from .faults_support import (
    Proc,
    answer_submits_late,
    carrier_env,
    numbers,
    second_sigterm_ends_it,
    wait_healthy,
    wait_until,
)

SENDS = 2000
KILL_AFTER = 500  # accepted sends; the rest of the load meets a dead server
THROTTLED = {"throttle_rate": 0.3}
CONCURRENCY = 16  # httpx spends more CPU per request than the server: keep the client lean


async def delivery_rows(db: Database) -> dict[str, tuple[str, str]]:
    """batch id -> (recipient, status) for every delivery."""
    async with db.read() as conn:
        rows = await conn.execute(select(deliveries.c.batch_id, deliveries.c.recipient, deliveries.c.status))
        return {b: (r, s) for b, r, s in rows}


async def batch_bodies(db: Database) -> dict[str, str]:
    async with db.read() as conn:
        return {i: b for i, b in await conn.execute(select(batches.c.id, batches.c.body))}


async def push_and_halt(base_url: str, creds: dict[str, str], halt: Callable[[], None]) -> tuple[dict[str, str], int]:
    """Send SENDS single-recipient batches, CONCURRENCY at a time; `halt` the server (SIGKILL,
    SIGTERM) once KILL_AFTER were accepted. Returns recipient -> batch id of every 201, and how
    many requests got no answer (in flight at the kill, or sent after)."""
    url = f"{base_url}/xms/v1/{creds['service_plan_id']}/batches"
    headers = {"Authorization": f"Bearer {creds['api_token']}"}
    accepted: dict[str, str] = {}
    unanswered = 0
    killed = False
    slots = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)

    async with httpx.AsyncClient(timeout=10.0, limits=limits) as http:
        async def send(number: str) -> None:
            nonlocal unanswered, killed
            async with slots:
                if killed:
                    unanswered += 1
                    return
                try:
                    response = await http.post(url, headers=headers, json={
                        "from": "+46700000000", "to": [number], "body": f"crash {number}",
                    })
                except httpx.TransportError:
                    unanswered += 1
                    return
            assert response.status_code == 201, response.text
            accepted[number] = response.json()["id"]
            if len(accepted) >= KILL_AFTER and not killed:
                killed = True
                halt()

        await asyncio.gather(*(send(n) for n in numbers(SENDS)))
    assert killed
    return accepted, unanswered


@pytest.mark.parametrize("smsc", ["inside", "outside"])
async def test_kill_9_mid_load_loses_no_accepted_message(smsc: str, tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env: dict[str, str] = {}
    outside: Sandbox | None = None
    if smsc == "outside":
        outside = Sandbox(seed=11)
        outside.add_account(SANDBOX_SYSTEM_ID, SANDBOX_PASSWORD)
        await outside.start()
        env = carrier_env(outside, SANDBOX_SYSTEM_ID, SANDBOX_PASSWORD)
    command = ["serve", "--data-dir", data_dir, "--port", str(port), "--smpp-port", "0"]
    procs = [Proc(command, env, str(tmp_path / "serve-1.log"))]
    db = Database(sqlite_url(data_dir))
    try:
        await wait_healthy(base_url, procs[0])
        creds = json.loads((Path(data_dir) / "demo-project.json").read_text())
        # The carrier throttles some submits: they wait for a retry, so the kill finds work queued.
        async with httpx.AsyncClient() as http:
            rule = await http.put(f"{base_url}/sandbox/v1/rules/467012", json=THROTTLED)
            assert rule.status_code == 200, rule.text
        if outside is not None:
            outside.set_rule("467012", **THROTTLED)
        accepted, unanswered = await push_and_halt(base_url, creds, procs[0].kill)

        # Durable at the moment of death: every 201 has its batch and its delivery row.
        at_kill = await delivery_rows(db)
        missing = [b for b in accepted.values() if b not in at_kill]
        assert not missing, f"{len(missing)} accepted batches are not in the database"
        assert all(at_kill[b][0] == n for n, b in accepted.items())
        bodies = await batch_bodies(db)
        assert all(bodies[b] == f"crash {n}" for n, b in accepted.items())
        queued_at_kill = {b for b, (_, s) in at_kill.items() if s == "Queued"}
        assert len(queued_at_kill) >= 20, "the kill came after almost everything was sent"

        if outside is not None:
            outside.rules.delete("467012")
        procs.append(Proc(command, env, str(tmp_path / "serve-2.log")))
        await wait_healthy(base_url, procs[1])
        if outside is None:
            await _check_inside(db, base_url, at_kill, queued_at_kill)
        else:
            await _check_outside(db, outside, at_kill, queued_at_kill)
        print(f"[{smsc}] accepted {len(accepted)}, unanswered {unanswered}, committed "
              f"{len(at_kill)}, queued at the kill {len(queued_at_kill)}")
        await procs[1].terminate()
    finally:
        for proc in procs:
            if proc.popen.poll() is None:
                proc.kill()
        await db.aclose()
        if outside is not None:
            await outside.stop()


async def _check_inside(db: Database, base_url: str, at_kill: dict[str, tuple[str, str]],
                        queued_at_kill: set[str]) -> None:
    async def all_sent() -> bool:
        now = await delivery_rows(db)
        return all(now[b][1] == "Delivered" for b in queued_at_kill)

    await wait_until(all_sent, 30.0, "every delivery Queued at the kill to be Delivered")
    now = await delivery_rows(db)
    # What the dead SMSC had taken keeps its status: the receipts died with it, nothing went back.
    # (Dispatched ones become Unknown once their expiry and the receipt wait have passed:
    # tests/workers/test_sweeper_receipts.py.)
    for batch_id, (_, status) in at_kill.items():
        if status != "Queued":
            assert now[batch_id][1] == status, (batch_id, status, now[batch_id])
    duplicates = 0
    async with httpx.AsyncClient(timeout=10.0) as http:
        for batch_id in queued_at_kill:
            number = at_kill[batch_id][0]
            response = await http.get(f"{base_url}/sandbox/v1/handsets/{number[1:]}/messages")
            inbox = [m["body"] for m in response.json()["messages"]]
            assert inbox and set(inbox) == {f"crash {number}"}, (number, inbox)
            duplicates += len(inbox) - 1
    print(f"[inside] duplicates on the restarted sandbox: {duplicates}")
    assert duplicates == 0  # the restarted process sends each Queued delivery once


async def _check_outside(db: Database, sandbox: Sandbox, at_kill: dict[str, tuple[str, str]],
                         queued_at_kill: set[str]) -> None:
    async def all_delivered() -> bool:
        now = await delivery_rows(db)
        return all(status == "Delivered" for _, status in now.values())

    await wait_until(all_delivered, 30.0, "every delivery to be Delivered")
    now = await delivery_rows(db)
    assert set(at_kill) <= set(now)
    duplicates = 0
    for recipient, _ in now.values():
        inbox = sandbox.messages_for(recipient)
        assert inbox and {m.body for m in inbox} == {f"crash {recipient}"}, (recipient, inbox)
        duplicates += len(inbox) - 1
    print(f"[outside] duplicates: {duplicates} (submits whose outcome died with the process)")
    # Only a delivery the database still had as Queued can have been submitted twice.
    assert duplicates <= len(queued_at_kill)


async def claimed_deliveries(db: Database) -> int:
    """Deliveries a worker holds a claim on: handed to the SMSC, their outcome not recorded yet."""
    async with db.read() as conn:
        query = select(func.count()).select_from(deliveries).where(deliveries.c.claimed_ms.is_not(None))
        return int((await conn.execute(query)).scalar_one())


async def released_deliveries(db: Database) -> int:
    """Deliveries claimed, then given back unsent: Queued again after an attempt."""
    async with db.read() as conn:
        query = select(func.count()).select_from(deliveries).where(
            deliveries.c.status == "Queued", deliveries.c.attempts > 0)
        return int((await conn.execute(query)).scalar_one())


async def test_sigterm_mid_load_stops_gracefully_and_sends_nothing_twice(tmp_path: Path) -> None:
    """SIGTERM (a service manager stopping Tidings) mid-load, the SMSC slow to answer: the API
    stops taking requests, the messages written to the SMSC are answered and recorded, those
    still waiting for a window slot are given back, the process exits 0; after the restart the
    rest is sent, and no message reaches its handset twice."""
    data_dir = str(tmp_path / "data")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    outside = Sandbox(seed=12)
    outside.add_account(SANDBOX_SYSTEM_ID, SANDBOX_PASSWORD)
    slow = answer_submits_late(outside)  # so that the SIGTERM finds submits in flight
    await outside.start()
    # A window of 8 answered 0.3 s late passes ~27 messages a second: the load outruns it on
    # any machine, so the SIGTERM finds messages waiting for a slot (on a slow one, a window of
    # 64 kept up with the load and left nothing to give back).
    env = carrier_env(outside, SANDBOX_SYSTEM_ID, SANDBOX_PASSWORD, window=8)
    command = ["serve", "--data-dir", data_dir, "--port", str(port), "--smpp-port", "0"]
    procs = [Proc(command, env, str(tmp_path / "serve-1.log"))]
    db = Database(sqlite_url(data_dir))
    try:
        await wait_healthy(base_url, procs[0])
        creds = json.loads((Path(data_dir) / "demo-project.json").read_text())
        accepted, _ = await push_and_halt(base_url, creds, lambda: procs[0].popen.send_signal(signal.SIGTERM))
        code = await procs[0].wait(30.0)
        assert code == 0, procs[0].output()
        assert "Traceback" not in procs[0].output()

        at_stop = await delivery_rows(db)
        assert all(at_stop[b][0] == n for n, b in accepted.items())
        # Every message handed to the SMSC had its outcome recorded before the exit; those still
        # waiting for a window slot were given back unsent instead of holding the stop up.
        assert await claimed_deliveries(db) == 0
        submitted_at_stop = {b for b, (_, s) in at_stop.items() if s != "Queued"}
        assert submitted_at_stop, "nothing was sent before the stop"
        assert await released_deliveries(db) > 0

        slow.end()
        procs.append(Proc(command, env, str(tmp_path / "serve-2.log")))
        await wait_healthy(base_url, procs[1])

        async def all_delivered() -> bool:
            return all(status == "Delivered" for _, status in (await delivery_rows(db)).values())

        await wait_until(all_delivered, 30.0, "every delivery to be Delivered")
        for recipient, _ in at_stop.values():
            inbox = [m.body for m in outside.messages_for(recipient)]
            assert inbox == [f"crash {recipient}"], (recipient, inbox)
        assert await procs[1].terminate() == 0
    finally:
        for proc in procs:
            if proc.popen.poll() is None:
                proc.kill()
        await db.aclose()
        await outside.stop()


async def test_a_stop_lets_the_sandbox_deliver_its_receipts_first(tmp_path: Path) -> None:
    """The sandbox inside `tidings serve` holds the receipts of what it just accepted for its
    latency; a stop waits for them (bounded) before unbinding, so that after the restart those
    messages are Delivered, not Dispatched for ever."""
    data_dir = str(tmp_path / "data")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    proc = Proc(["serve", "--data-dir", data_dir, "--port", str(port), "--smpp-port", "0"], {},
                str(tmp_path / "serve.log"))
    db = Database(sqlite_url(data_dir))
    try:
        await wait_healthy(base_url, proc)
        creds = json.loads((Path(data_dir) / "demo-project.json").read_text())
        to = numbers(20, prefix="+467014")
        async with httpx.AsyncClient(timeout=10.0) as http:
            rule = await http.put(f"{base_url}/sandbox/v1/rules/467014", json={"latency_ms": 800})
            assert rule.status_code == 200, rule.text
            response = await http.post(f"{base_url}/xms/v1/{creds['service_plan_id']}/batches",
                                       headers={"Authorization": f"Bearer {creds['api_token']}"},
                                       json={"from": "+46700000000", "to": to, "body": "just before the stop"})
            assert response.status_code == 201, response.text

        async def all_dispatched() -> bool:
            return {s for _, s in (await delivery_rows(db)).values()} == {"Dispatched"}

        await wait_until(all_dispatched, 10.0, "every message handed to the sandbox, no receipt yet")
        assert await proc.terminate(timeout=15.0) == 0, proc.output()
        assert {s for _, s in (await delivery_rows(db)).values()} == {"Delivered"}
    finally:
        if proc.popen.poll() is None:
            proc.kill()
        await db.aclose()


async def test_a_second_sigterm_ends_a_stop_held_up_by_an_smsc_that_does_not_answer(tmp_path: Path) -> None:
    """The first SIGTERM waits for the answers to what was written to the SMSC; when the SMSC
    never gives them, a second SIGTERM ends the process at once (the lease recovers the rest)."""
    data_dir = str(tmp_path / "data")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    outside = Sandbox(seed=13)
    outside.add_account(SANDBOX_SYSTEM_ID, SANDBOX_PASSWORD)
    silent = answer_submits_late(outside, seconds=3600.0)
    await outside.start()
    env = carrier_env(outside, SANDBOX_SYSTEM_ID, SANDBOX_PASSWORD)
    proc = Proc(["serve", "--data-dir", data_dir, "--port", str(port), "--smpp-port", "0"], env,
                str(tmp_path / "serve.log"))
    try:
        await wait_healthy(base_url, proc)
        creds = json.loads((Path(data_dir) / "demo-project.json").read_text())
        async with httpx.AsyncClient(timeout=10.0) as http:
            response = await http.post(f"{base_url}/xms/v1/{creds['service_plan_id']}/batches",
                                       headers={"Authorization": f"Bearer {creds['api_token']}"},
                                       json={"from": "+46700000000", "to": numbers(5), "body": "unanswered"})
            assert response.status_code == 201, response.text
        await second_sigterm_ends_it(proc, silent, written=5)
    finally:
        if proc.popen.poll() is None:
            proc.kill()
        silent.end()
        await outside.stop()


async def test_kill_9_with_webhooks_pending_loses_none(tmp_path: Path) -> None:
    """Reports to a receiver that is down are pending in the outbox when the process is killed;
    after the restart the receiver, now up, gets every one, signed with the project's secret."""
    from sinch.domains.sms.models.v1.response import RecipientDeliveryReport

    from tidings.webhooks.outbox import DELIVERED, PENDING
    from tidings.webhooks.testing import WebhookReceiver

    from .helpers import sdk_events
    from .test_faults_webhooks import outbox_rows

    data_dir = str(tmp_path / "data")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = ["serve", "--data-dir", data_dir, "--port", str(port), "--smpp-port", "0"]
    env = {"TIDINGS_WEBHOOK_RETRY_BASE_SECONDS": "0.2"}
    receiver = WebhookReceiver()  # connections refused until started
    to = numbers(20, prefix="+467013")
    procs = [Proc(command, env, str(tmp_path / "serve-1.log"))]
    db = Database(sqlite_url(data_dir))
    try:
        await wait_healthy(base_url, procs[0])
        creds = json.loads((Path(data_dir) / "demo-project.json").read_text())
        async with httpx.AsyncClient(timeout=10.0) as http:
            response = await http.post(
                f"{base_url}/xms/v1/{creds['service_plan_id']}/batches",
                headers={"Authorization": f"Bearer {creds['api_token']}"},
                json={"from": "+46700000000", "to": to, "body": "hook", "callback_url": receiver.url,
                      "delivery_report": "per_recipient_final"},
            )
            assert response.status_code == 201, response.text
        batch_id = response.json()["id"]

        async def all_refused() -> bool:
            rows = await outbox_rows(db)
            # Every report written and pending, and the refusing URL tried (past the first
            # failure its other rows wait for the probes, one at a time, some untried). A row
            # claimed at the kill is released when the next process starts, not a lease later.
            return (len(rows) == len(to) and all(r.state == PENDING for r in rows)
                    and sum(r.attempts for r in rows) >= 1)

        await wait_until(all_refused, 15.0, "every report pending, the receiver tried")
        procs[0].kill()

        await receiver.start()
        procs.append(Proc(command, env, str(tmp_path / "serve-2.log")))
        await wait_healthy(base_url, procs[1])
        await receiver.wait_for(len(to), timeout=15.0)

        async def all_delivered() -> bool:
            return all(r.state == DELIVERED for r in await outbox_rows(db))

        await wait_until(all_delivered, 10.0, "every report recorded as delivered")
        events = sdk_events(creds["webhook_secret"])
        parsed = []
        for request in receiver.requests:
            assert events.validate_authentication_header(request.headers, request.body)
            parsed.append(events.parse_event(request.body, request.headers))
        assert all(isinstance(e, RecipientDeliveryReport) for e in parsed)
        assert sorted((e.batch_id, e.recipient, e.status) for e in parsed) == [
            (batch_id, n, "Delivered") for n in to
        ]
        await procs[1].terminate()
    finally:
        for proc in procs:
            if proc.popen.poll() is None:
                proc.kill()
        await db.aclose()
        await receiver.stop()
