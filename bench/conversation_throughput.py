"""Conversation API throughput, end to end, mixed channels, on the embedded profile.

    .venv/bin/python bench/conversation_throughput.py [--messages 4000] [--concurrency 64]
        [--handsets 2000] [--cprofile out.prof]

Starts `tidings serve` as a subprocess (bench/servers.py), takes an OAuth2 token, creates an app
with RCS, Telegram, Viber and SMS credentials, gives the sandbox handsets capabilities through
the sandbox REST API (a quarter each: RCS, Telegram, Viber, SMS only), then sends
`messages:send` requests from raw keep-alive clients (bench/loadgen.py):

    RCS handsets       channel_priority_order [RCS, SMS]       → RCS (rich, RBM twin)
    Telegram handsets  [TELEGRAM, SMS]                         → Telegram (Bot API twin)
    Viber handsets     [VIBER, SMS]                            → Viber (REST API twin)
    SMS-only handsets  [RCS, SMS]                              → RCS capability 404 → SMS (SMPP)

It prints accepted messages/s (200s: committed before the answer), API latency p50/p99,
delivered messages/s (accepted → the platform or SMSC reported DELIVERED: the message's state
read from the database, as the SMS benchmark does, timed from the first request to the moment
every message is final), the per-channel split, a few handsets read back through the sandbox
REST API, and the server's peak RSS. `--cprofile FILE` runs the server under cProfile and writes
its profile at exit (read it with `python -m pstats FILE`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import servers  # noqa: E402
from loadgen import post_json, run_load  # noqa: E402

from tidings.testing.ports import free_port  # noqa: E402

KINDS = ("RCS", "TELEGRAM", "VIBER", "SMS")
TG_TOKEN = "7000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
VIBER_TOKEN = "4453b6ac12345678-e02c5f12174805f9-daec29cbb3e0af9b"
CREDENTIALS = [
    {"channel": "RCS", "static_bearer": {"claimed_identity": "bench-agent@rbm.goog", "token": "rbm-t"},
     "callback_secret": "rbm-client-token"},
    {"channel": "TELEGRAM", "telegram_credentials": {"token": TG_TOKEN}},
    {"channel": "VIBER", "static_token": {"token": VIBER_TOKEN}},
]


def number(i: int, handsets: int) -> str:
    return f"+4670{2_000_000 + i % handsets}"


def kind(i: int) -> str:
    return KINDS[i % len(KINDS)]


def request_body(app_id: str, i: int, handsets: int, tag: str) -> dict[str, Any]:
    msisdn = number(i, handsets)
    digits = msisdn.lstrip("+")
    k = kind(i)
    identities = [{"channel": "SMS", "identity": msisdn}]
    order = ["RCS", "SMS"]
    if k == "TELEGRAM":
        identities.insert(0, {"channel": "TELEGRAM", "identity": digits})
        order = ["TELEGRAM", "SMS"]
    elif k == "VIBER":
        identities.insert(0, {"channel": "VIBER", "identity": f"viber-{digits}"})
        order = ["VIBER", "SMS"]
    return {"app_id": app_id, "message": {"text_message": {"text": f"{tag} {i}"}},
            "recipient": {"identified_by": {"channel_identities": identities}},
            "channel_priority_order": order, "ttl": "120s"}


async def setup(base: str, creds: dict[str, str], handsets: int) -> tuple[str, str]:
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(f"{base}/oauth2/token", auth=(creds["key_id"], creds["key_secret"]),
                            data={"grant_type": "client_credentials"})
        r.raise_for_status()
        token = r.json()["access_token"]
        sms = {"channel": "SMS", "static_bearer": {"claimed_identity": creds["service_plan_id"], "token": "x",
                                                   "sender": "+46700000099"}}
        r = await http.post(f"{base}/v1/projects/{creds['project_id']}/apps",
                            headers={"Authorization": f"Bearer {token}"},
                            json={"display_name": "bench", "channel_credentials": [sms, *CREDENTIALS]})
        r.raise_for_status()
        app_id = r.json()["id"]
        sem = asyncio.Semaphore(32)

        async def caps(i: int) -> None:
            k = kind(i)
            async with sem:
                r = await http.put(f"{base}/sandbox/v1/handsets/{number(i, handsets).lstrip('+')}",
                                   json={"capabilities": ["SMS"] if k == "SMS" else ["SMS", k]})
                r.raise_for_status()

        await asyncio.gather(*(caps(i) for i in range(handsets)))
        return token, app_id


def counts(db: str, since_ms: int) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT state, channel, count(*) FROM conv_messages WHERE accept_ms >= ? "
                            "AND direction = 'TO_CONTACT' GROUP BY state, channel", (since_ms,)).fetchall()
    finally:
        conn.close()
    out: dict[str, int] = {}
    for state, channel, n in rows:
        out[state] = out.get(state, 0) + n
        if state in ("DELIVERED", "READ"):
            out[f"on {channel}"] = out.get(f"on {channel}", 0) + n
    return out


async def wait_final(db: str, since_ms: int, expected: int, timeout: float) -> tuple[dict[str, int], float]:
    deadline = time.monotonic() + timeout
    while True:
        c = counts(db, since_ms)
        delivered = c.get("DELIVERED", 0) + c.get("READ", 0)
        if delivered + c.get("FAILED", 0) >= expected or time.monotonic() > deadline:
            return c, time.time()
        await asyncio.sleep(0.1)


async def check_handsets(base: str, handsets: int, tag: str, samples: list[int]) -> int:
    async with httpx.AsyncClient(timeout=10) as http:
        for i in samples:
            r = await http.get(f"{base}/sandbox/v1/handsets/{number(i, handsets).lstrip('+')}/messages")
            r.raise_for_status()
            found = [m for m in r.json().get("messages", []) if f"{tag} {i}" in json.dumps(m, ensure_ascii=False)]
            want = "SMS" if kind(i) == "SMS" else kind(i)
            if not found or found[0]["channel"] != want:
                raise AssertionError(f"handset {number(i, handsets)} has no {want} message {tag} {i}")
    return len(samples)


async def phase(server: servers.Server, token: str, app_id: str, messages: int, concurrency: int,
                handsets: int, db: str) -> dict[str, Any]:
    tag = f"b{time.time_ns()}"
    path = f"/v1/projects/{server.creds['project_id']}/messages:send"

    def make(i: int) -> bytes:
        return post_json("127.0.0.1", server.port, path, json.dumps(request_body(app_id, i, handsets, tag)).encode(),
                         token)

    since_ms = time.time_ns() // 1_000_000 - 5
    started = time.time()
    load = await run_load("127.0.0.1", server.port, messages, concurrency, make)
    ok = load.statuses.get(200, 0)
    final, done_at = await wait_final(db, since_ms, ok, timeout=120 + ok / 100)
    delivered = final.get("DELIVERED", 0) + final.get("READ", 0)
    checked = await check_handsets(server.sandbox_url, handsets, tag, sorted({0, 1, 2, 3, messages - 1}))
    return {"messages": messages, "accepted": ok, "errors": messages - ok,
            "accepted_per_s": ok / load.elapsed, "p50_ms": load.percentile(50) * 1000,
            "p99_ms": load.percentile(99) * 1000, "delivered": delivered,
            "delivered_per_s": delivered / (done_at - started), "final": final, "handsets_checked": checked}


async def start_embedded(workdir: Path) -> servers.Server:
    """`tidings serve` on free ports (HTTP and the SMPP gateway)."""
    data_dir = workdir / "data"
    env = {**os.environ, "TIDINGS_DATA_DIR": str(data_dir)}
    creds = json.loads(servers._run(["projects", "create", "bench"], env))
    port = free_port()
    proc = servers._spawn(["serve", "--port", str(port), "--smpp-port", "0"], env, workdir / "serve.log")
    server = servers.Server("embedded", port, creds, f"http://127.0.0.1:{port}", {"serve": proc},
                            sqlite_path=str(data_dir / "tidings.db"))
    try:
        await servers._wait_http(port, "/health", [proc])
    except BaseException:
        print((workdir / "serve.log").read_text()[-3000:], file=sys.stderr)
        await server.stop()
        raise
    return server


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--handsets", type=int, default=2000)
    parser.add_argument("--cprofile", default=None, help="run the server under cProfile, write the profile here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tidings-conv-bench-") as tmp:
        workdir = Path(tmp)
        if args.cprofile:
            servers.TIDINGS[:] = [sys.executable, "-m", "cProfile", "-o", os.path.abspath(args.cprofile),
                                  "-m", "tidings.cli"]
        server = await start_embedded(workdir)
        try:
            token, app_id = await setup(server.sandbox_url, server.creds, args.handsets)
            db = server.sqlite_path
            assert db is not None
            await phase(server, token, app_id, args.warmup, args.concurrency, args.handsets, db)
            result = await phase(server, token, app_id, args.messages, args.concurrency, args.handsets, db)
            rss = server.peak_rss()
        finally:
            await server.stop()
    print(f"embedded, {args.messages} messages:send, {args.concurrency} clients, mixed RCS/Telegram/Viber/SMS")
    print(f"  accepted    {result['accepted']:>6} ({result['errors']} errors)  {result['accepted_per_s']:,.0f} msg/s"
          f"  p50 {result['p50_ms']:.1f} ms  p99 {result['p99_ms']:.1f} ms")
    print(f"  delivered   {result['delivered']:>6}  {result['delivered_per_s']:,.0f} msg/s end to end")
    print(f"  final       {json.dumps(result['final'])}")
    print(f"  handsets checked through the sandbox API: {result['handsets_checked']}")
    print(f"  peak RSS    {json.dumps({k: round(v) for k, v in rss.items()})} MB")


if __name__ == "__main__":
    asyncio.run(main())
